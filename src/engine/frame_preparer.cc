#include "engine/frame_preparer.h"

#include <algorithm>

#include <fmt/format.h>

#include "vision/image_probe.h"

namespace sluice::engine {
namespace {

// A decoded image buffer larger than this is given back after use rather than kept for the
// next frame, so one huge image does not hold its memory for the life of the executor.
constexpr std::size_t kKeepDecodeBytes = 16u << 20;

}  // namespace

FramePreparer::FramePreparer(vision::Preprocessor preprocessor, std::uint64_t max_pixels,
                             bool jpeg_dct_scaling, MemoryBudget* decode_budget)
    : preprocessor_(std::move(preprocessor)),
      max_pixels_(max_pixels),
      decode_budget_(decode_budget),
      decoder_(max_pixels) {
  if (jpeg_dct_scaling) decoder_.set_scaling_target(&preprocessor_.spec());
}

Status FramePreparer::reserve(std::uint64_t width, std::uint64_t height, std::size_t& reserved) {
  reserved = 0;
  const std::uint64_t pixels = width * height;
  if (pixels > max_pixels_) {
    return Status(Code::kLimit,
                  fmt::format("image is {}x{} = {} pixels, above the limit of {} (rule: --max-pixels)", width,
                              height, pixels, max_pixels_));
  }
  if (decode_budget_ == nullptr) return Status::ok();
  // The decoded image, the resize's intermediate rows, and its output.
  const int channels = preprocessor_.spec().channels();
  const auto [tw, th] =
      vision::resize_target(preprocessor_.spec(), static_cast<int>(width), static_cast<int>(height));
  const std::uint64_t w = static_cast<std::uint64_t>(std::max<long long>(tw, 0));
  const std::uint64_t h = static_cast<std::uint64_t>(std::max<long long>(th, 0));
  const auto need =
      static_cast<std::size_t>(static_cast<std::uint64_t>(channels) * (pixels + height * w + w * h));
  if (!decode_budget_->fits(need)) {
    return Status(
        Code::kLimit,
        fmt::format("decoding this {}x{} image needs {} MiB, more than the {} MiB the memory budget "
                    "leaves for decoding (rule: --memory-budget; raise it, or lower --max-pixels)",
                    width, height, (need + (1u << 20) - 1) >> 20, decode_budget_->limit() >> 20));
  }
  if (!decode_budget_->acquire(need)) return Status(Code::kClosed, "the pipeline is stopping");
  reserved = need;
  return Status::ok();
}

Status FramePreparer::adopt_raw_pixels(const Frame& frame) {
  const auto& px = frame.pixels;
  const int channels = preprocessor_.spec().channels();
  if (px.width == 0 || px.height == 0) {
    return Status(Code::kDecode, fmt::format("raw frame claims {}x{} pixels (rule: both sides must be > 0)",
                                             px.width, px.height));
  }
  if (px.channels() != channels) {
    return Status(Code::kDecode,
                  fmt::format("raw frame has {} channel(s) but the model takes {}", px.channels(), channels));
  }
  if (frame.payload.size() != px.bytes()) {
    return Status(Code::kDecode, fmt::format("raw {}x{}x{} frame has {} payload bytes, not {}", px.width,
                                             px.height, px.channels(), frame.payload.size(), px.bytes()));
  }
  image_.width = static_cast<int>(px.width);
  image_.height = static_cast<int>(px.height);
  image_.channels = channels;
  const auto bytes = frame.payload.bytes();
  image_.pixels.assign(bytes.begin(), bytes.end());
  return Status::ok();
}

Status FramePreparer::prepare(const Frame& frame, std::span<float> out) {
  if (!frame.pixels.raw()) return prepare(frame.payload.bytes(), out);
  std::size_t reserved = 0;
  Status st = reserve(frame.pixels.width, frame.pixels.height, reserved);
  if (st) st = adopt_raw_pixels(frame);
  if (st) st = preprocessor_.run(image_, out);
  if (image_.pixels.capacity() > kKeepDecodeBytes) image_.pixels = std::vector<std::uint8_t>();
  if (reserved > 0) decode_budget_->release(reserved);
  return st;
}

Status FramePreparer::prepare(std::span<const std::uint8_t> bytes, std::span<float> out) {
  const int channels = preprocessor_.spec().channels();
  // Reserve what decoding this image will hold, before any pixel buffer exists.
  std::size_t reserved = 0;
  if (const auto size = vision::probe_image(bytes)) {
    if (auto st = reserve(size->width, size->height, reserved); !st) return st;
  }
  Status st = decoder_.decode(bytes, channels, image_);
  if (st) st = preprocessor_.run(image_, out);
  if (image_.pixels.capacity() > kKeepDecodeBytes) image_.pixels = std::vector<std::uint8_t>();
  if (reserved > 0) decode_budget_->release(reserved);
  return st;
}

}  // namespace sluice::engine
