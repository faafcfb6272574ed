// Source: produces frames (Spark's receiver). Built in: tcp-listen, tcp-connect.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <span>
#include <vector>

#include "observe/source_stats.h"
#include "sluice/frame.h"
#include "sluice/status.h"

namespace sluice::source {

/// What a source hands its frames to. Implemented by the engine; thread-safe.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  /// Accepts one frame. Blocks while the pipeline is full (backpressure: a source that blocks
  /// here stops reading its sockets). Returns kClosed when the pipeline is stopping, and the
  /// frame was not accepted.
  virtual Status store(Frame frame) = 0;
  /// Accepts several frames at once, and returns once all are stored (and, with a write-ahead
  /// log, logged durably: one group commit for the lot). Moves from `frames`. On error none of
  /// the frames is accepted.
  virtual Status store_many(std::vector<Frame>& frames) {
    for (auto& f : frames) {
      if (auto st = store(std::move(f)); !st) return st;
    }
    return Status::ok();
  }
  /// Allocates a new stream id for a connection described by `peer` (for logs).
  virtual std::uint64_t open_stream(std::string_view peer) = 0;
  /// A stream ended: `why` is ok for a clean end, else the counted reason.
  virtual void close_stream(std::uint64_t stream, const Status& why) = 0;
  /// Counts an error that involves no single frame (a failed connect, a plugin's report), keeps
  /// it as the source's last error, and logs it.
  virtual void report_error(const Status& error) = 0;
  /// This source's counters and state, shown in logs, metrics and the dashboard.
  virtual observe::SourceStats& stats() = 0;
  /// Asks the source's supervisor (SupervisedSource) to stop and restart the source with backoff;
  /// returns at once. Without a supervisor the request is only counted and logged as an error.
  virtual void request_restart(const Status& why) { report_error(why); }
};

class Source {
 public:
  virtual ~Source() = default;
  /// "tcp-listen 127.0.0.1:9999", for logs and metrics.
  virtual std::string name() const = 0;
  /// Starts the source's threads; returns once it is ready (for tcp-listen: bound).
  virtual Status start(FrameSink& sink) = 0;
  /// Stops receiving and joins its threads. Frames already stored stay in the pipeline.
  virtual void stop() = 0;
  /// Called from executor threads once the result lines of `frames` (all stored by this source)
  /// are written: the place to acknowledge them upstream. Must be thread-safe and quick.
  virtual void on_frames_done(std::span<const Frame> frames) { (void)frames; }
};

}  // namespace sluice::source
