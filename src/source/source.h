// Source: produces frames (Spark's receiver), and FrameSink, what it hands them to.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "observe/source_stats.h"
#include "sluice/frame.h"
#include "sluice/status.h"

namespace sluice::source {

/// The answer to FrameSink::try_reserve.
struct Reservation {
  enum class Kind {
    kReserved,  // the bytes are the caller's until it admits or unreserves them
    kWait,      // no room now: stop reading; the wake callback runs when there may be room
    kNever,     // the frame can never fit: refuse it (see `why`)
  };
  Kind kind = Kind::kReserved;
  /// With kWait for a rate limit: when to try again (the wake callback does not run for it).
  std::chrono::steady_clock::duration retry_after{};
  Status why;
};

/// Implemented by the engine; thread-safe.
class FrameSink {
 public:
  virtual ~FrameSink() = default;

  // --- For sources with a thread of their own. These block.
  /// Accepts one frame: see store_many.
  virtual Status store(Frame frame) {
    std::vector<Frame> one;
    one.push_back(std::move(frame));
    return store_many(one);
  }
  /// Accepts frames: waits while the pipeline is full (the rate limit, the memory budget, an
  /// output that cannot be written), logs them in the write-ahead log and waits until they are
  /// durable there, then admits them. Moves from `frames`. On error none is accepted: kClosed
  /// when the pipeline is stopping, kLimit for a frame that can never fit the memory budget.
  virtual Status store_many(std::vector<Frame>& frames) = 0;

  // --- For event loops (tcp-listen). These never block.
  /// Reserves `bytes` of memory and `frames` frames of the rate limit (1 for a frame's payload;
  /// 0 for a receive buffer).
  virtual Reservation try_reserve(std::size_t bytes, std::size_t frames = 1) = 0;
  /// Gives back reserved bytes that no frame will hold (a connection that closed mid-frame).
  virtual void unreserve(std::size_t bytes) = 0;
  /// Admits frames whose payload bytes were reserved, in order. `admitted` runs once they are
  /// stored: before admit returns without a write-ahead log, later and on another thread with
  /// one (after the group commit). With an error the frames were dropped (the log is closing):
  /// they were never acknowledged.
  virtual void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) = 0;
  /// `wake` runs (on another thread; it must be quick) when a try_reserve that got kWait for
  /// memory may succeed now. Call once, before the first try_reserve.
  virtual void set_wake(std::function<void()> wake) = 0;

  // --- Streams and errors.
  /// A new stream id for a connection described by `peer` (for logs); an error when the id
  /// could not be stored durably (then refuse the connection).
  virtual Result<std::uint64_t> open_stream(std::string_view peer) = 0;
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
  /// Called from the pipeline's commit thread once the result lines of `frames` (all stored by
  /// this source, in the order stored) are durable: the one moment a frame is done. The place
  /// to acknowledge upstream or delete an input. Must be thread-safe and quick.
  virtual void on_frames_done(std::span<const Frame> frames) { (void)frames; }
};

}  // namespace sluice::source
