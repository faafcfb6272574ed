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

Status FramePreparer::prepare(std::span<const std::uint8_t> bytes, std::span<float> out) {
  const int channels = preprocessor_.spec().channels();
  // Reserve what decoding this image will hold, before any pixel buffer exists.
  std::size_t need = 0;
  if (const auto size = vision::probe_image(bytes)) {
    const std::uint64_t pixels = std::uint64_t{size->width} * size->height;
    if (pixels > max_pixels_) {
      return Status(Code::kLimit,
                    fmt::format("image is {}x{} = {} pixels, above the limit of {} (rule: --max-pixels)",
                                size->width, size->height, pixels, max_pixels_));
    }
    if (decode_budget_ != nullptr) {
      // The decoded image, the resize's intermediate rows, and its output.
      const auto [tw, th] = vision::resize_target(preprocessor_.spec(), static_cast<int>(size->width),
                                                  static_cast<int>(size->height));
      const std::uint64_t w = static_cast<std::uint64_t>(std::max(tw, 0));
      const std::uint64_t h = static_cast<std::uint64_t>(std::max(th, 0));
      need = static_cast<std::size_t>(static_cast<std::uint64_t>(channels) *
                                      (pixels + size->height * w + w * h));
      if (!decode_budget_->fits(need)) {
        return Status(
            Code::kLimit,
            fmt::format("decoding this {}x{} image needs {} MiB, more than the {} MiB the memory budget "
                        "leaves for decoding (rule: --memory-budget; raise it, or lower --max-pixels)",
                        size->width, size->height, (need + (1u << 20) - 1) >> 20,
                        decode_budget_->limit() >> 20));
      }
      if (!decode_budget_->acquire(need)) return Status(Code::kClosed, "the pipeline is stopping");
    }
  }
  Status st = decoder_.decode(bytes, channels, image_);
  if (st) st = preprocessor_.run(image_, out);
  if (image_.pixels.capacity() > kKeepDecodeBytes) image_.pixels = std::vector<std::uint8_t>();
  if (need > 0) decode_budget_->release(need);
  return st;
}

}  // namespace sluice::engine
