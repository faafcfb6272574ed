// The single-thread baselines the pipeline's figures compare against, measured in the same run:
// decode + preprocess as an executor does it, decode alone, and raw inference on pre-made tensors.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "model/backend.h"
#include "model/model_bundle.h"

namespace sluice::harness {

/// Thrown when a measurement is cancelled (Ctrl-C); the commands then exit with 130.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

/// `items` processed in `seconds`.
struct Throughput {
  std::uint64_t items = 0;
  double seconds = 0.0;
  double per_second() const { return seconds > 0 ? static_cast<double>(items) / seconds : 0.0; }
  double ms_per_item() const { return items > 0 ? 1000.0 * seconds / static_cast<double>(items) : 0.0; }
};

/// Decode + preprocess on the calling thread with an executor's own FramePreparer, cycling
/// `images`, for at least `seconds` after one warm-up pass. Throws on a bad image, Interrupted
/// when `cancel` is set.
Throughput time_decode_preprocess(const model::ModelBundle& bundle,
                                  std::span<const std::span<const std::uint8_t>> images, bool dct_scaling,
                                  std::uint64_t max_pixels, double seconds,
                                  const std::atomic<bool>* cancel = nullptr);

/// Decode alone (libjpeg-turbo or libpng, full size, to `channels`) on the calling thread, cycling
/// `images`, for at least `seconds` after one warm-up pass: the decode-only part of the machine's
/// limit. Throws on a bad image, Interrupted when `cancel` is set.
Throughput time_decode_alone(std::span<const std::span<const std::uint8_t>> images, int channels,
                             std::uint64_t max_pixels, double seconds,
                             const std::atomic<bool>* cancel = nullptr);

/// Raw inference with `backend` on pre-made tensors (no decode, no preprocessing): `batch` frames
/// per call (at most the backend's max batch), for at least `seconds` after 3 warm-up calls.
Throughput time_backend(model::Backend& backend, std::size_t batch, double seconds,
                        const std::atomic<bool>* cancel = nullptr);

/// The same with a new backend of `threads` intra-op threads. `description` (optional) receives
/// the backend's one-line description.
Throughput time_inference(const model::ModelBundle& bundle, std::size_t batch, int threads, double seconds,
                          const std::atomic<bool>* cancel = nullptr, std::string* description = nullptr);

/// Throws Interrupted when `cancel` is set.
void check_cancel(const std::atomic<bool>* cancel);

/// Seconds since `start` on the steady clock.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace sluice::harness
