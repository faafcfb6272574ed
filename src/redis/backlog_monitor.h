// BacklogMonitor: how many frames wait in Redis, polled cheaply; ingest waits on it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "redis/redis_connection.h"
#include "redis/stream_layout.h"
#include "util/mutex.h"

namespace sluice::redis {

struct BacklogOptions {
  /// Frames not processed yet, summed over the partitions: per partition, the slowest consumer
  /// group's lag (not yet delivered) plus pending (delivered, not acknowledged), or the stream
  /// length while no group exists. Ingest stops reading its sockets above it.
  std::uint64_t max_backlog = 20000;
  /// Entries in any one partition stream (XLEN). Ingest stops reading above it. It must stay
  /// below the XADD MAXLEN cap, so that the cap never trims a frame that is still waiting.
  std::uint64_t max_stream_length = 100000;
  std::chrono::milliseconds poll{100};  // how often the figures are refreshed
};

struct Backlog {
  std::uint64_t waiting = 0;  // frames not processed yet, all partitions
  std::uint64_t longest = 0;  // the largest XLEN of a partition
  bool known = false;         // false until the first successful poll
};

/// One thread polls XLEN and XINFO GROUPS of every partition every `poll` (one pipelined round
/// trip per partition, on its own connection). Between polls the figures are up to `poll` old, so
/// a bound can be overshot by what arrives in that time; the stream cap leaves room for it.
class BacklogMonitor {
 public:
  BacklogMonitor(const RedisUrl& url, StreamLayout layout, BacklogOptions options,
                 ConnectionOptions connection);
  ~BacklogMonitor();

  /// Polls once (so the first frames already see the backlog), then starts the polling thread.
  Status start();
  /// Wakes every waiter (they return false) and joins the thread.
  void stop();

  /// Blocks while the backlog is above a bound. Returns false once stop() was called.
  bool wait_for_room();
  /// True when the backlog is within its bounds now (does not wait).
  bool has_room() const;
  Backlog current() const;
  const BacklogOptions& options() const { return options_; }

 private:
  Status poll_once();
  void run();
  bool over(const Backlog& b) const {
    return b.waiting > options_.max_backlog || b.longest > options_.max_stream_length;
  }

  StreamLayout layout_;
  BacklogOptions options_;
  std::vector<std::unique_ptr<RedisConnection>> conns_;  // per partition; the polling thread only
  mutable Mutex mu_;
  CondVar cv_;
  Backlog backlog_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool blocked_ GUARDED_BY(mu_) = false;  // for the log line on each change
  std::thread thread_;
};

}  // namespace sluice::redis
