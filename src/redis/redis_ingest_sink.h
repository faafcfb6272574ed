// RedisIngestSink: the FrameSink of `sluice ingest`. Frames go to Redis instead of a pipeline.
#pragma once

#include <deque>
#include <string>
#include <thread>

#include "engine/memory_budget.h"
#include "observe/source_stats.h"
#include "redis/backlog_monitor.h"
#include "redis/frame_writer.h"
#include "source/source.h"
#include "util/mutex.h"

namespace sluice::redis {

/// One per source (each has its own counters), sharing the writer, the backlog monitor and the
/// memory budget. A frame is done once Redis has confirmed its XADD: then its source is told
/// (a protocol-v2 producer's ack means "in Redis") and its memory is released. While the backlog
/// is above its bounds nothing new is admitted, so a tcp source stops reading its sockets and
/// TCP flow control pushes back on producers. Frames an event loop admits are written by the
/// sink's own thread, so the loop never waits for Redis.
class RedisIngestSink final : public source::FrameSink {
 public:
  /// `writer`, `monitor` and `budget` must outlive the sink.
  RedisIngestSink(std::string source_name, FrameWriter& writer, BacklogMonitor& monitor,
                  engine::MemoryBudget& budget);
  ~RedisIngestSink() override;

  /// The source whose frames these are (it acknowledges them). Before it starts.
  void set_source(source::Source* source) { source_ = source; }
  /// Writes what was admitted and stops the sink's thread. After the source stopped.
  void stop();

  Status store_many(std::vector<Frame>& frames) override;
  source::Reservation try_reserve(std::size_t bytes, std::size_t frames = 1) override;
  void unreserve(std::size_t bytes) override { budget_.release(bytes); }
  void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) override;
  void set_wake(std::function<void()> wake) override { budget_.on_room(std::move(wake)); }
  Result<std::uint64_t> open_stream(std::string_view peer) override;
  void close_stream(std::uint64_t stream, const Status& why) override;
  void report_error(const Status& error) override;
  observe::SourceStats& stats() override { return stats_; }

 private:
  /// Writes frames whose bytes are reserved, tells the source, releases the bytes.
  Status write(std::vector<Frame>& frames);
  void run();

  FrameWriter& writer_;
  BacklogMonitor& monitor_;
  engine::MemoryBudget& budget_;
  observe::SourceStats stats_;
  source::Source* source_ = nullptr;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::vector<Frame>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sluice::redis
