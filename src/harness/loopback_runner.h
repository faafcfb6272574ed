// LoopbackRunner: the whole pipeline in one process, fed over loopback TCP by a producer thread,
// with a collector that counts its results. `sluice demo`, `bench e2e`, `bench sweep` and the
// tests measure with it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/streaming_context.h"
#include "harness/baselines.h"
#include "model/model_bundle.h"
#include "net/socket.h"
#include "producer/frame_set.h"
#include "sink/sink.h"
#include "sluice/pipeline_config.h"

namespace sluice::harness {

/// How runs send their frames.
struct LoopbackSettings {
  int connections = 4;                    // producer TCP connections over loopback
  std::size_t frames = 2000;              // frames of the max-rate run
  double load_seconds = 3.0;              // a load run sends about this many seconds of frames...
  std::size_t max_load_frames = 1000000;  // ...but at most this many (and at least `frames`)
  double stall_seconds = 30.0;            // no new result for this long while some are missing = lost
  bool progress = true;                   // progress lines on stderr
  /// config.memory_budget bounds resident memory, as the command line's --memory-budget does
  /// (false: it is the bytes of data in flight, as in PipelineConfig).
  bool budget_is_resident_bound = true;
};

/// The figures of one run.
struct RunStats {
  std::string run;                            // "max", "load", or the caller's name
  double offered_load_pct = 0;                // percent of the max-rate throughput; 0 for the max-rate run
  double offered_fps = 0;                     // the sender's rate; 0 = as fast as possible
  std::uint64_t frames = 0;                   // frames sent
  std::uint64_t results = 0;                  // results (predictions and error lines)
  std::uint64_t errors = 0;                   // of which error lines
  double seconds = 0;                         // first frame sent -> last result
  double throughput_fps = 0;                  // results / seconds
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;  // latency, receipt to durable result
  std::uint64_t batches = 0;                  // non-empty batches completed
  double mean_batch = 0;                      // records per batch
  std::uint64_t model_calls = 0;
  double frames_per_call = 0;   // frames per model call (at most max_batch)
  double batch_ms = 0;          // mean per-batch processing time (interval) or compute time (continuous)
  double latency_bound_ms = 0;  // interval: batch interval + 2 x batch_ms; continuous: max delay + 2 x
  bool bound_met() const { return p99_ms <= latency_bound_ms; }
};

/// One pipeline (its model sessions loaded once) and the runs on it. Runs never overlap: each
/// waits for every result and every batch statistic before returning.
class LoopbackRunner {
 public:
  /// Told about each result (the commit thread).
  using ResultHook = std::function<void(const sink::ResultRecord&)>;
  /// Called about every 250 ms during a run with the results so far and the frames sent.
  using TickHook = std::function<void(std::uint64_t results, std::uint64_t sent)>;

  /// `bundle` and `frames` must outlive the runner, and `output` (null: results are only
  /// counted) too. `cancel` is polled; when it becomes true a run stops and throws Interrupted.
  LoopbackRunner(PipelineConfig config, const model::ModelBundle& bundle, const producer::FrameSet& frames,
                 LoopbackSettings settings, const std::atomic<bool>& cancel, sink::Sink* output = nullptr,
                 ResultHook on_result = {});
  ~LoopbackRunner();
  LoopbackRunner(const LoopbackRunner&) = delete;
  LoopbackRunner& operator=(const LoopbackRunner&) = delete;

  /// Loads the model sessions and starts the pipeline; throws std::runtime_error on failure.
  void start();
  /// A short unreported run so that the measured ones start warm.
  void warm_up();
  /// settings.frames frames as fast as the sender can.
  RunStats run_max();
  /// `pct` percent of `max_fps`, for about settings.load_seconds.
  RunStats run_load(double pct, double max_fps);
  /// Sends `count` frames (the set is cycled) at `rate` frames/s (0 = unlimited) and waits for
  /// every result. Throws when the sender fails, when results are missing, and Interrupted.
  RunStats run(std::string name, std::size_t count, double rate, double pct, const TickHook& tick = {});
  /// Stops the pipeline (idempotent; the destructor calls it).
  void stop();

  const PipelineConfig& config() const;
  engine::StreamingContext& context() { return *ctx_; }
  std::string model_description() const;

 private:
  class Collector;

  PipelineConfig config_;
  const model::ModelBundle& bundle_;
  const producer::FrameSet& frames_;
  LoopbackSettings settings_;
  const std::atomic<bool>& cancel_;
  sink::Sink* output_;
  std::unique_ptr<sink::Sink> null_sink_;
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<engine::StreamingContext> ctx_;
  net::Endpoint endpoint_;
};

}  // namespace sluice::harness
