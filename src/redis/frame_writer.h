// FrameWriter: XADDs frames to their partition streams, and returns once Redis has them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "redis/redis_connection.h"
#include "redis/stream_layout.h"
#include "sluice/frame.h"
#include "util/mutex.h"

namespace sluice::redis {

struct FrameWriterOptions {
  /// XADD MAXLEN ~: a safety cap per partition stream, never the flow control. It must exceed
  /// the backlog bounds, which are what keep waiting frames from being trimmed.
  std::uint64_t stream_maxlen = 1000000;
  /// How long a write keeps retrying while Redis is unreachable (restarting, failing over).
  std::chrono::milliseconds retry_for{30000};
  /// With replicas: WAIT until this many replicas have the frames before a write counts as done
  /// (0 = do not wait). Redis replication is asynchronous otherwise.
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{1000};
  ConnectionOptions connection;
};

/// Thread-safe. Each partition has its own connection (so concurrent writers of different
/// partitions do not wait on each other, and on Redis Cluster each talks to its shard). A write
/// pipelines one XADD per frame and reads every reply: when it returns ok, Redis has every frame
/// (in its AOF too when appendfsync is always). After an error some frames may be in Redis and
/// others not; a producer that re-sends them creates duplicates with the same (stream, seq),
/// which the results identify.
class FrameWriter {
 public:
  FrameWriter(const RedisUrl& url, StreamLayout layout, FrameWriterOptions options);

  Status write(std::span<const Frame> frames);
  /// A stream id for a new plain producer connection, unique across ingest nodes and restarts
  /// (INCR on one key). Falls back to a random 32-bit id, logged, when Redis is unreachable.
  std::uint64_t next_stream_id();
  /// From now on writes stop retrying and fail with kClosed.
  void close() { closed_ = true; }

  std::uint64_t frames_written() const { return frames_.load(); }
  std::uint64_t bytes_written() const { return bytes_.load(); }
  const StreamLayout& layout() const { return layout_; }

 private:
  struct Partition {
    Partition(const RedisUrl& url, ConnectionOptions o) : conn(url, o) {}
    Mutex mu;
    RedisConnection conn GUARDED_BY(mu);
  };
  Status write_partition(int p, std::span<const Frame* const> frames);

  StreamLayout layout_;
  FrameWriterOptions options_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  Partition ids_;  // the stream-id counter's connection
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace sluice::redis
