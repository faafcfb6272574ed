// RedisIngestSink: the FrameSink of `sluice ingest`. Frames go to Redis instead of a pipeline.
#pragma once

#include <string>

#include "observe/source_stats.h"
#include "redis/backlog_monitor.h"
#include "redis/frame_writer.h"
#include "source/source.h"

namespace sluice::redis {

/// One per source (each has its own counters), sharing the writer and the backlog monitor.
/// store_many blocks while the backlog is above its bounds (so a tcp source stops reading its
/// sockets, and TCP flow control pushes back on producers), then returns once Redis has confirmed
/// every XADD: a protocol-v2 producer's ack then means "in Redis".
class RedisIngestSink final : public source::FrameSink {
 public:
  /// `writer` and `monitor` must outlive the sink.
  RedisIngestSink(std::string source_name, FrameWriter& writer, BacklogMonitor& monitor)
      : writer_(writer), monitor_(monitor), stats_(std::move(source_name)) {}

  Status store(Frame frame) override;
  Status store_many(std::vector<Frame>& frames) override;
  std::uint64_t open_stream(std::string_view peer) override;
  void close_stream(std::uint64_t stream, const Status& why) override;
  void report_error(const Status& error) override;
  observe::SourceStats& stats() override { return stats_; }

 private:
  FrameWriter& writer_;
  BacklogMonitor& monitor_;
  observe::SourceStats stats_;
};

}  // namespace sluice::redis
