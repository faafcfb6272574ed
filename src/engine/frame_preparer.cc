#include "engine/frame_preparer.h"

#include <cstdint>
#include <utility>

#include <fmt/format.h>

namespace sluice::engine {
namespace {

// A decoded image buffer larger than this is given back after use rather than kept for the
// next frame, so one huge image does not hold its memory for the life of the executor.
constexpr std::size_t kKeepDecodeBytes = 16u << 20;

// The decoder's hook: reserves for the image once its header is checked, before its buffers exist.
template <typename Reserve>
class ReservingAdmission final : public vision::DecodeAdmission {
 public:
  explicit ReservingAdmission(Reserve reserve) : reserve_(std::move(reserve)) {}
  Status admit(const vision::DecodePlan& plan) override { return reserve_(plan); }

 private:
  Reserve reserve_;
};

}  // namespace

FramePreparer::FramePreparer(vision::Preprocessor preprocessor, std::uint64_t max_pixels,
                             bool jpeg_dct_scaling, MemoryBudget* decode_budget)
    : preprocessor_(std::move(preprocessor)),
      max_pixels_(max_pixels),
      decode_budget_(decode_budget),
      decoder_(max_pixels) {
  if (jpeg_dct_scaling) decoder_.set_scaling_target(&preprocessor_.spec());
}

Status FramePreparer::reserve(int width, int height, std::uint64_t decode_bytes, std::size_t& reserved) {
  reserved = 0;
  // Whatever the preprocessing would refuse (a resize beyond Pillow's sizes, a size the model
  // cannot take without a resize) is refused before the image is decoded.
  auto geometry = preprocessor_.geometry(width, height);
  if (!geometry) return geometry.status();
  const std::uint64_t preprocess_bytes = preprocessor_.buffer_bytes(*geometry, width, height);
  const std::uint64_t need =
      decode_bytes > UINT64_MAX - preprocess_bytes ? UINT64_MAX : decode_bytes + preprocess_bytes;
  last_need_ = need;
  if (decode_budget_ == nullptr) return Status::ok();
  if (need > SIZE_MAX || !decode_budget_->fits(static_cast<std::size_t>(need))) {
    return Status(
        Code::kLimit,
        fmt::format("decoding this {}x{} image needs {} MiB, more than the {} MiB the memory budget "
                    "leaves for decoding (rule: --memory-budget; raise it, or lower --max-pixels)",
                    width, height, (need >> 20) + ((need & ((1u << 20) - 1)) != 0 ? 1 : 0),
                    decode_budget_->limit() >> 20));
  }
  if (!decode_budget_->acquire(static_cast<std::size_t>(need))) {
    return Status(Code::kClosed, "the pipeline is stopping");
  }
  reserved = static_cast<std::size_t>(need);
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
  last_decoder_ = bytes.size();
  return Status::ok();
}

Status FramePreparer::prepare(const Frame& frame, std::span<float> out) {
  if (!frame.pixels.raw()) return prepare(frame.payload.bytes(), out);
  last_need_ = last_decoder_ = 0;
  const auto& px = frame.pixels;
  if (px.width == 0 || px.height == 0) return adopt_raw_pixels(frame);  // its error names the rule
  std::size_t reserved = 0;
  Status st = vision::check_image_dimensions(px.width, px.height, max_pixels_);
  if (st) {
    st = reserve(static_cast<int>(px.width), static_cast<int>(px.height),
                 static_cast<std::uint64_t>(px.width) * px.height *
                     static_cast<std::uint64_t>(preprocessor_.spec().channels()),
                 reserved);
  }
  if (st) st = adopt_raw_pixels(frame);
  if (st) st = preprocessor_.run(image_, out);
  if (image_.pixels.capacity() > kKeepDecodeBytes) image_.pixels = std::vector<std::uint8_t>();
  if (reserved > 0) decode_budget_->release(reserved);
  return st;
}

Status FramePreparer::prepare(std::span<const std::uint8_t> bytes, std::span<float> out) {
  last_need_ = 0;
  // The decoder reserves through this hook what decoding and preprocessing this image will hold,
  // once its header is checked and before any pixel buffer exists.
  std::size_t reserved = 0;
  ReservingAdmission admission([this, &reserved](const vision::DecodePlan& plan) {
    return reserve(plan.width, plan.height, plan.bytes, reserved);
  });
  Status st = decoder_.decode(bytes, preprocessor_.spec().channels(), image_, &admission);
  last_decoder_ = decoder_.last_buffer_bytes();
  if (st) st = preprocessor_.run(image_, out);
  if (image_.pixels.capacity() > kKeepDecodeBytes) image_.pixels = std::vector<std::uint8_t>();
  if (reserved > 0) decode_budget_->release(reserved);
  return st;
}

}  // namespace sluice::engine
