// PendingReclaimer: takes over frames whose worker died (XAUTOCLAIM), and sends frames that were
// delivered too often to the dead-letter stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "redis/frame_entry.h"
#include "redis/redis_connection.h"
#include "redis/stream_layout.h"

namespace sluice::redis {

struct ReclaimOptions {
  StreamLayout layout;
  std::string group;
  std::string consumer;
  /// An entry pending this long without a heartbeat belongs to a dead (or stalled) worker.
  std::chrono::milliseconds claim_idle{30000};
  std::size_t claim_count = 256;  // XAUTOCLAIM COUNT: most entries claimed per partition per round
  /// An entry is processed at most this many times: one whose next delivery would exceed it goes
  /// to the dead-letter stream instead, with the reason, and is acknowledged.
  int max_deliveries = 3;
  /// An entry that already failed this many deliveries is processed alone (one at a time per
  /// worker), so a poison frame does not take innocent frames down with it again and again.
  int isolate_after = 2;
  std::size_t dead_maxlen = 100000;  // XADD MAXLEN ~ of each dead-letter stream; 0 = no cap
};

/// A frame taken over from another (or an earlier) consumer.
struct ClaimedFrame {
  int partition = 0;
  FrameEntry entry;
  int deliveries = 0;    // this delivery included
  bool isolate = false;  // process it alone
};

struct ReclaimRound {
  std::vector<ClaimedFrame> frames;
  std::size_t dead_lettered = 0;
  /// Pending entries that no longer exist (trimmed before they were processed: lost). Only a
  /// stream cap below the backlog bound can cause this; it is logged as an error.
  std::size_t deleted = 0;
};

/// Not thread-safe: one maintenance thread calls it, with the connection of the partition.
class PendingReclaimer {
 public:
  explicit PendingReclaimer(ReclaimOptions options);

  /// One XAUTOCLAIM step on partition `p`: claims up to claim_count idle entries (continuing the
  /// scan where the previous call stopped), dead-letters the ones past max_deliveries, and
  /// returns the others to process.
  Result<ReclaimRound> reclaim(int p, RedisConnection& conn);

  const ReclaimOptions& options() const { return options_; }

 private:
  Status dead_letter(int p, RedisConnection& conn, const std::vector<ClaimedFrame>& frames);

  ReclaimOptions options_;
  std::vector<std::string> cursors_;  // per partition: where the XAUTOCLAIM scan continues
};

}  // namespace sluice::redis
