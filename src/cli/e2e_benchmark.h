// End-to-end measurement in one process, shared by `sluice bench e2e` and `sluice bench sweep`:
// a StreamingContext with a loopback tcp-listen source, a producer thread that sends frames at a
// chosen rate, and a sink + batch listener that count results, latencies and per-batch statistics.
// Also the single-thread baselines (decode + preprocess, raw inference) the figures compare against.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/cli_support.h"
#include "engine/streaming_context.h"
#include "model/backend.h"
#include "model/model_bundle.h"
#include "net/socket.h"
#include "producer/frame_set.h"

namespace sluice::cli {

/// Thrown when Ctrl-C or SIGTERM interrupts a measurement; the commands then exit with 130.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

/// Raised when SIGINT or SIGTERM arrives: a thread waits on `signals` (constructed before any
/// other thread, so every thread has them blocked) and sets the flag the measurements poll.
class InterruptFlag {
 public:
  explicit InterruptFlag(SignalWaiter& signals);
  ~InterruptFlag();
  InterruptFlag(const InterruptFlag&) = delete;
  InterruptFlag& operator=(const InterruptFlag&) = delete;
  const std::atomic<bool>& flag() const { return raised_; }

 private:
  std::atomic<bool> raised_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

/// The .jpg, .jpeg and .png files of `dir`, in name order. Throws, naming `option`, when the
/// directory is missing or holds no image.
std::vector<std::vector<std::uint8_t>> read_image_dir(const std::string& dir,
                                                      std::string_view option = "--images");

/// The frames a benchmark sends: a folder of JPEG/PNG images (`images_dir`), or an IDX image file
/// sent as PNG frames (`idx_file`); exactly one must be non-empty. `limit` caps the count (0 = all).
/// Throws with a message that names --images / --idx.
producer::FrameSet load_bench_frames(const std::string& images_dir, const std::string& idx_file,
                                     std::size_t limit);

/// The model's input shape: the bundle's declared input, else the model's own (a bare .onnx file).
model::ModelShape model_input_shape(const model::ModelBundle& bundle);

/// `items` processed in `seconds`.
struct Throughput {
  std::uint64_t items = 0;
  double seconds = 0.0;
  double per_second() const { return seconds > 0 ? static_cast<double>(items) / seconds : 0.0; }
  double ms_per_item() const { return items > 0 ? 1000.0 * seconds / static_cast<double>(items) : 0.0; }
};

/// Decode + preprocess on the calling thread, cycling `images`, for at least `seconds` after one
/// warm-up pass. The decoder is set up as an executor sets up its own (DCT scaling when
/// `dct_scaling`, the same pixel limit). Throws on a bad image, Interrupted when `cancel` is set.
Throughput time_decode_preprocess(const model::ModelBundle& bundle,
                                  std::span<const std::span<const std::uint8_t>> images, bool dct_scaling,
                                  std::uint64_t max_pixels, double seconds,
                                  const std::atomic<bool>* cancel = nullptr);

/// Raw inference with `backend` on pre-made tensors (no decode, no preprocessing): `batch` frames
/// per call (at most the backend's max batch), for at least `seconds` after 3 warm-up calls.
Throughput time_backend(model::Backend& backend, std::size_t batch, double seconds,
                        const std::atomic<bool>* cancel = nullptr);

/// Raw inference on pre-made tensors (no decode, no preprocessing): `batch` frames per call,
/// `threads` intra-op threads, for at least `seconds` after 3 warm-up calls. Counts frames.
/// `description` (optional) receives the backend's one-line description.
Throughput time_inference(const model::ModelBundle& bundle, std::size_t batch, int threads, double seconds,
                          const std::atomic<bool>* cancel = nullptr, std::string* description = nullptr);

/// How the end-to-end runs send their frames.
struct E2eSettings {
  int connections = 4;                    // producer TCP connections over loopback
  std::size_t frames = 2000;              // frames of the max-rate run
  double load_seconds = 3.0;              // a load run sends about this many seconds of frames...
  std::size_t max_load_frames = 1000000;  // ...but at most this many (and at least `frames`)
  double stall_seconds = 30.0;            // no new result for this long while some are missing = lost
  bool progress = true;                   // progress lines on stderr
};

/// The figures of one run.
struct RunStats {
  std::string run;                            // "max" or "load"
  double offered_load_pct = 0;                // percent of the max-rate throughput; 0 for the max-rate run
  double offered_fps = 0;                     // the sender's rate; 0 = as fast as possible
  std::uint64_t frames = 0;                   // frames sent
  std::uint64_t results = 0;                  // result lines (predictions and error lines)
  std::uint64_t errors = 0;                   // of which error lines
  double seconds = 0;                         // first frame sent -> last result
  double throughput_fps = 0;                  // results / seconds
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;  // latency, receipt to result (ResultRecord::latency_ms)
  std::uint64_t batches = 0;                  // non-empty batches completed
  double mean_batch = 0;                      // records per batch
  std::uint64_t model_calls = 0;
  double frames_per_call = 0;   // frames per model call (at most --max-batch)
  double batch_ms = 0;          // mean per-batch processing time (interval) or compute time (continuous)
  double latency_bound_ms = 0;  // interval: batch interval + 2 x batch_ms; continuous: max delay + 2 x
  bool bound_met() const { return p99_ms <= latency_bound_ms; }
};

/// One pipeline (one engine configuration, its model sessions loaded once) and the runs on it.
/// Runs never overlap: each waits for every result and every batch statistic before returning.
class E2eRunner {
 public:
  /// `bundle` and `frames` must outlive the runner. `cancel` is polled; when it becomes true a run
  /// stops sending and throws Interrupted.
  E2eRunner(engine::EngineConfig config, const model::ModelBundle& bundle, const producer::FrameSet& frames,
            E2eSettings settings, const std::atomic<bool>& cancel);
  ~E2eRunner();
  E2eRunner(const E2eRunner&) = delete;
  E2eRunner& operator=(const E2eRunner&) = delete;

  /// Loads the model sessions and starts the pipeline; throws std::runtime_error on failure.
  void start();
  /// A short unreported run so that the measured ones start warm.
  void warm_up();
  /// settings.frames frames as fast as the sender can.
  RunStats run_max();
  /// `pct` percent of `max_fps`, for about settings.load_seconds.
  RunStats run_load(double pct, double max_fps);
  /// Stops the pipeline (idempotent; the destructor calls it).
  void stop();

  const engine::EngineConfig& config() const { return config_; }
  std::string model_description() const;

 private:
  class Collector;
  /// Sends `count` frames (the set is cycled) at `rate` frames/s (0 = unlimited) and waits for
  /// every result. Throws when the sender fails, when results are missing, and Interrupted.
  RunStats run(std::string name, std::size_t count, double rate, double pct);

  engine::EngineConfig config_;
  const model::ModelBundle& bundle_;
  const producer::FrameSet& frames_;
  E2eSettings settings_;
  const std::atomic<bool>& cancel_;
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<engine::StreamingContext> ctx_;
  net::Endpoint endpoint_;
};

/// The options `bench e2e` and `bench sweep` share: what to send, and how.
struct BenchInputOptions {
  std::string images;  // a folder of JPEG/PNG images...
  std::string idx;     // ...or an IDX image file
  std::size_t limit = 0;
  std::size_t frames = 2000;
  int connections = 4;
  double load_seconds = 3.0;
  std::string log_level = "warn";
  void add_to(CLI::App& app);
  /// Throws std::runtime_error naming the option when a value is out of range.
  void validate() const;
  E2eSettings settings() const;
};

/// "100ms", "1.5s", "500us": a short label for a duration.
std::string duration_label(std::chrono::microseconds d);

}  // namespace sluice::cli
