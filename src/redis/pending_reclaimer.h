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
  /// An entry is processed at most this many times: one that failed this many deliveries goes to
  /// the dead-letter stream instead of a new delivery, with the reason, and is acknowledged.
  int max_deliveries = 3;
  /// An entry that already failed this many deliveries is processed alone (one at a time per
  /// worker), so a poison frame does not take innocent frames down with it again and again.
  int isolate_after = 2;
  std::size_t dead_maxlen = 100000;  // XADD MAXLEN ~ of each dead-letter stream; 0 = no cap
};

/// A frame taken over from another (or an earlier) consumer, with its content.
struct ClaimedFrame {
  int partition = 0;
  FrameEntry entry;
  int deliveries = 0;  // this delivery included
};

/// A frame that already failed --isolate-after deliveries, claimed without its content (JUSTID:
/// its delivery count unchanged), to be processed alone when its turn comes (take()). Until then
/// a crash of this worker does not count against it.
struct Suspect {
  int partition = 0;
  std::string id;
  int failed = 0;  // deliveries so far, none of which ended with a result
};

struct ReclaimRound {
  std::vector<ClaimedFrame> frames;  // to process now, together
  std::vector<Suspect> suspects;     // to process one at a time
  std::size_t dead_lettered = 0;
  /// Pending entries that no longer exist (trimmed before they were processed: lost). Only a
  /// stream cap below the backlog bound can cause this; it is logged as an error.
  std::size_t deleted = 0;
};

/// Not thread-safe: one thread calls it, with the connection of the partition. The delivery
/// count of an entry counts the times it was handed to processing: a claim takes ids only
/// (XAUTOCLAIM JUSTID, count unchanged), and the count grows by one when the content is taken
/// (XCLAIM) to be processed at once. So frames that merely waited in a dead worker's queue are
/// charged for one delivery, and never for a suspect's crash.
class PendingReclaimer {
 public:
  explicit PendingReclaimer(ReclaimOptions options);

  /// One XAUTOCLAIM step on partition `p`: claims up to claim_count entries idle for claim_idle
  /// (continuing the scan where the previous call stopped), dead-letters the ones that failed
  /// max_deliveries times, and returns the others: frames to process now, and suspects.
  Result<ReclaimRound> reclaim(int p, RedisConnection& conn);
  /// Takes the content of a suspect now (XCLAIM: its delivery count grows by one). nullopt when it
  /// is no longer ours (acknowledged or claimed by another worker meanwhile).
  /// Thread-safe with respect to reclaim() (it keeps no state).
  Result<std::optional<ClaimedFrame>> take(const Suspect& suspect, RedisConnection& conn) const;

  const ReclaimOptions& options() const { return options_; }

 private:
  /// XCLAIM with content of `ids` (already ours), counting a delivery; entries not returned are
  /// gone. The payloads point into the reply, which they keep alive.
  Result<std::vector<FrameEntry>> claim_content(int p, RedisConnection& conn,
                                                const std::vector<std::string>& ids) const;
  Status dead_letter(int p, RedisConnection& conn, const std::vector<FrameEntry>& entries,
                     const std::vector<int>& failed) const;

  ReclaimOptions options_;
  std::vector<std::string> cursors_;  // per partition: where the XAUTOCLAIM scan continues
};

}  // namespace sluice::redis
