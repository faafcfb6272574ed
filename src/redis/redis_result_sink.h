// RedisResultSink: writes result lines to the results streams and acknowledges their frames.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis/inflight_table.h"
#include "redis/redis_connection.h"
#include "redis/stream_layout.h"
#include "sink/sink.h"
#include "util/mutex.h"

namespace sluice::redis {

struct ResultSinkOptions {
  StreamLayout layout;
  std::string group;     // the consumer group whose entries are acknowledged
  std::string consumer;  // this worker, written with each result
  /// Approximate cap on each results stream (XADD MAXLEN ~); 0 = no cap.
  std::size_t results_maxlen = 1000000;
  /// How long a write keeps retrying while Redis is unreachable before it fails. The frames of
  /// a failed write stay pending in Redis and are reclaimed later: nothing is lost.
  std::chrono::milliseconds retry_for{30000};
  /// Testing only: abort the process when a frame with this name reaches the sink, as a frame
  /// that crashes its worker would ("poison frame"). Empty: off.
  std::string crash_on_name;
  ConnectionOptions connection;
};

/// For each frame, in one MULTI/EXEC per partition: XADD to results stream p {stream, seq, line
/// (the JSON line of the file sink, without its newline), worker, entry, deliveries}, and XACK of
/// the frame's entry. So a result is in Redis exactly when its frame is acknowledged, and a worker
/// that dies at any point leaves each frame either done or pending (reclaimed, then processed
/// again). A frame processed twice (reclaimed from a worker that was alive after all, or a
/// producer's re-send) has two results with the same (stream, seq). Thread-safe; each partition
/// has its own connection, so executors writing different partitions do not wait on each other.
class RedisResultSink final : public sink::Sink {
 public:
  RedisResultSink(const RedisUrl& url, ResultSinkOptions options, const InFlightTable& table);

  /// Stages the records; commit() writes them.
  Status write(std::span<sink::ResultRecord> records) override;
  /// Writes what was staged, partition by partition, each in one MULTI/EXEC: durable as Redis's
  /// persistence makes it. The staged records are dropped either way (the committer re-writes).
  Status commit(sink::Durability durability) override;
  /// Stops retrying: a write in progress fails at once (used by a forced stop).
  void cancel_retries() { cancelled_ = true; }

  std::uint64_t results_written() const { return written_.load(); }

 private:
  struct Partition {
    explicit Partition(const RedisUrl& url, ConnectionOptions o) : conn(url, o) {}
    Mutex mu;
    RedisConnection conn GUARDED_BY(mu);
  };
  Status write_partition(int p, std::span<const sink::ResultRecord* const> records);

  std::vector<sink::ResultRecord> staged_;  // the commit thread's
  ResultSinkOptions options_;
  const InFlightTable& table_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::atomic<bool> cancelled_{false};
  std::atomic<std::uint64_t> written_{0};
};

}  // namespace sluice::redis
