#include "harness/baselines.h"

#include <chrono>
#include <vector>

#include "engine/frame_preparer.h"
#include "vision/image_decoder.h"

namespace sluice::harness {
namespace {
using SteadyClock = std::chrono::steady_clock;
}  // namespace

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

void check_cancel(const std::atomic<bool>* cancel) {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw Interrupted();
}

namespace {

// `once` on each image for at least `seconds` after one warm-up pass, on the calling thread.
template <typename Once>
Throughput time_per_image(std::span<const std::span<const std::uint8_t>> images, double seconds,
                          const std::atomic<bool>* cancel, const Once& once) {
  if (images.empty()) throw std::runtime_error("no image to decode");
  for (const auto& bytes : images) {  // warm-up: buffers reach their size
    check_cancel(cancel);
    once(bytes);
  }
  Throughput t;
  const auto start = SteadyClock::now();
  do {
    check_cancel(cancel);
    once(images[t.items % images.size()]);
    ++t.items;
    t.seconds = seconds_since(start);
  } while (t.seconds < seconds);
  return t;
}

}  // namespace

Throughput time_decode_preprocess(const model::ModelBundle& bundle,
                                  std::span<const std::span<const std::uint8_t>> images, bool dct_scaling,
                                  std::uint64_t max_pixels, double seconds, const std::atomic<bool>* cancel) {
  if (!bundle.preprocess)
    throw std::runtime_error("the model bundle declares no preprocessing (use --preprocess)");
  const auto shape = model::input_shape(bundle);
  if (!shape) throw std::runtime_error(shape.status().to_string());
  auto pre = vision::Preprocessor::create(*bundle.preprocess, shape->channels, shape->height, shape->width);
  if (!pre) throw std::runtime_error(pre.status().to_string());
  std::vector<float> tensor(pre->tensor_elements());
  engine::FramePreparer preparer(std::move(*pre), max_pixels, dct_scaling, nullptr);
  return time_per_image(images, seconds, cancel, [&](std::span<const std::uint8_t> bytes) {
    if (auto st = preparer.prepare(bytes, tensor); !st) throw std::runtime_error(st.to_string());
  });
}

Throughput time_decode_alone(std::span<const std::span<const std::uint8_t>> images, int channels,
                             std::uint64_t max_pixels, double seconds, const std::atomic<bool>* cancel) {
  vision::ImageDecoder decoder(max_pixels);
  vision::DecodedImage image;
  return time_per_image(images, seconds, cancel, [&](std::span<const std::uint8_t> bytes) {
    if (auto st = decoder.decode(bytes, channels, image); !st) throw std::runtime_error(st.to_string());
  });
}

Throughput time_backend(model::Backend& backend, std::size_t batch, double seconds,
                        const std::atomic<bool>* cancel) {
  const auto& shape = backend.shape();
  // Pre-made tensors: a fixed pseudo-random pattern, so no decode or preprocessing is measured.
  std::vector<float> input(batch * shape.input_elements());
  for (std::size_t i = 0; i < input.size(); ++i)
    input[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;
  std::vector<float> output(batch * static_cast<std::size_t>(shape.classes));
  for (int warm = 0; warm < 3; ++warm) {
    if (auto st = backend.infer(input, batch, output); !st) throw std::runtime_error(st.to_string());
  }
  Throughput t;
  const auto start = SteadyClock::now();
  do {
    check_cancel(cancel);
    if (auto st = backend.infer(input, batch, output); !st) throw std::runtime_error(st.to_string());
    t.items += batch;
    t.seconds = seconds_since(start);
  } while (t.seconds < seconds);
  return t;
}

Throughput time_inference(const model::ModelBundle& bundle, std::size_t batch, int threads, double seconds,
                          const std::atomic<bool>* cancel, std::string* description) {
  auto backend = model::create_backend(bundle, {std::max(1, threads), std::max<std::size_t>(1, batch)});
  if (!backend) throw std::runtime_error(backend.status().to_string());
  if (description != nullptr) *description = (*backend)->describe();
  return time_backend(**backend, batch, seconds, cancel);
}

}  // namespace sluice::harness
