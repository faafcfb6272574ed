// RedisStreamSource (redis): a worker's source. Reads frames from the partition streams in a
// consumer group, takes over the frames of dead workers, and keeps its own frames claimed.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis/inflight_table.h"
#include "redis/pending_reclaimer.h"
#include "redis/redis_connection.h"
#include "redis/stream_layout.h"
#include "source/source.h"
#include "util/mutex.h"

namespace sluice::redis {

struct StreamSourceOptions {
  RedisUrl url;
  StreamLayout layout;
  std::string group = "sluice";
  std::string consumer;  // unique per worker; a restarted worker may reuse its name
  /// Where a group created by this worker starts: "0" (every frame in the streams) or "$" (only
  /// frames added from now on).
  std::string group_start = "0";
  std::size_t read_count = 64;            // XREADGROUP COUNT, per partition and read
  std::chrono::milliseconds block{1000};  // XREADGROUP BLOCK: longest wait for new frames
  /// Most frames this worker holds (read, not yet done). Reading stops at it, so frames stay in
  /// Redis for the other workers instead of queueing here: it spreads the load. It should exceed
  /// what the worker processes in a batch interval, or the worker idles.
  std::size_t max_in_flight = 4096;
  /// How often the worker resets the idle time of the frames it holds (XCLAIM JUSTID), so that
  /// only a dead or stalled worker's frames become idle for --claim-idle. Must be below it.
  std::chrono::milliseconds heartbeat{10000};
  std::chrono::milliseconds claim_interval{5000};  // how often it looks for idle frames to reclaim
  /// How often it trims processed frames from the streams (XTRIM MINID); 0 = never.
  std::chrono::milliseconds trim_interval{1000};
  /// Retention by age of the result and dead-letter streams (trimmed every trim interval); 0 = off.
  std::chrono::milliseconds results_ttl{0};
  std::chrono::milliseconds dead_ttl{0};
  ReclaimOptions reclaim;  // claim idle time, count, max deliveries, isolation, dead letters
  ConnectionOptions connection;
};

/// Threads: one reader per partition (XREADGROUP ... BLOCK on its own connection, so each
/// command touches one key and works on Redis Cluster), a maintenance thread (heartbeats,
/// XAUTOCLAIM rounds, dead letters, trimming) and a feeder that stores reclaimed frames (the
/// isolated ones one at a time). Each frame's token maps to its entry in the in-flight table; the
/// RedisResultSink acknowledges entries together with their results, and on_frames_done forgets
/// them. Entries delivered but not stored when the worker stops stay pending in Redis and are
/// reclaimed by another worker (or this one, restarted) after --claim-idle.
class RedisStreamSource final : public source::Source {
 public:
  explicit RedisStreamSource(StreamSourceOptions options);
  ~RedisStreamSource() override;

  std::string name() const override;
  /// Connects, creates the consumer group on each partition if missing (XGROUP CREATE MKSTREAM),
  /// and starts the threads.
  Status start(source::FrameSink& sink) override;
  void stop() override;
  void on_frames_done(std::span<const Frame> frames) override;

  /// The entries this worker holds; the result sink reads it.
  const InFlightTable& in_flight() const { return table_; }

  std::uint64_t frames_read() const { return read_.load(); }
  std::uint64_t frames_reclaimed() const { return reclaimed_.load(); }
  std::uint64_t frames_dead_lettered() const { return dead_.load(); }

 private:
  void read_loop(int p);
  void maintenance_loop();
  void feed_loop();
  void heartbeat(std::vector<std::unique_ptr<RedisConnection>>& conns);
  void reclaim_round(std::vector<std::unique_ptr<RedisConnection>>& conns);
  void trim(std::vector<std::unique_ptr<RedisConnection>>& conns);
  Status ensure_group(RedisConnection& conn, int p);
  /// Counts a failed maintenance step; logs the first of an outage (maintenance thread only).
  void maintenance_error(std::string_view what, const Status& error);
  /// Waits `d` unless stopping; false when stopping.
  bool pause(std::chrono::milliseconds d);

  StreamSourceOptions options_;
  source::FrameSink* sink_ = nullptr;
  InFlightTable table_;
  PendingReclaimer reclaimer_;
  std::vector<std::unique_ptr<RedisConnection>> readers_;  // one per partition, used by its thread
  std::vector<std::thread> threads_;

  Mutex mu_;  // guards the queues and suspect_token_; stopping_ waits on cv_
  CondVar cv_;
  std::deque<Frame> claimed_ GUARDED_BY(mu_);  // reclaimed frames to store
  /// Reclaimed suspects (ids only, with their in-flight token for heartbeats), taken and stored
  /// one at a time.
  std::deque<std::pair<Suspect, std::uint64_t>> isolated_ GUARDED_BY(mu_);
  std::uint64_t suspect_token_ GUARDED_BY(mu_) = 0;  // the isolated frame in the pipeline now; 0 = none
  std::atomic<bool> stopping_{false};
  bool maintenance_failing_ = false;  // maintenance thread only
  int maintenance_errors_ = 0;        // in the current round; maintenance thread only
  int maintenance_successes_ = 0;     // in the current round; maintenance thread only

  std::atomic<std::uint64_t> read_{0};
  std::atomic<std::uint64_t> reclaimed_{0};
  std::atomic<std::uint64_t> dead_{0};
};

}  // namespace sluice::redis
