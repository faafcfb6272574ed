// What the benchmark commands share: Ctrl-C handling, the frames they send, and the options that
// say which and how. The measurements themselves are in src/harness/.
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
#include "harness/baselines.h"
#include "harness/loopback_runner.h"
#include "producer/frame_set.h"

namespace sluice::cli {

using harness::Interrupted;
using harness::LoopbackRunner;
using harness::LoopbackSettings;
using harness::RunStats;
using harness::Throughput;
using harness::time_backend;
using harness::time_decode_alone;
using harness::time_decode_preprocess;
using harness::time_inference;

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
  LoopbackSettings settings() const;
};

/// "100ms", "1.5s", "500us": a short label for a duration.
std::string duration_label(std::chrono::microseconds d);

}  // namespace sluice::cli
