// Fuzzes the whole per-frame path an executor runs on a payload: the header check, the reservation
// in a real memory budget, decoding, and preprocessing into the model's input tensor, in every
// preprocessing mode. The first byte picks the mode (low 3 bits) and, with 0x80, a raw-pixel frame
// (a decoded video picture) whose width and height are the next two 16-bit big-endian values.
// Beyond not crashing, it checks that a frame never allocated more in the decoder than it reserved.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "engine/frame_preparer.h"
#include "engine/memory_budget.h"
#include "sluice/frame.h"
#include "vision/preprocess.h"

namespace {

using sluice::engine::FramePreparer;
using sluice::vision::ColorOrder;
using sluice::vision::Preprocessor;
using sluice::vision::PreprocessSpec;
using sluice::vision::ResizeMode;

constexpr std::uint64_t kMaxPixels = 1u << 22;

struct Mode {
  PreprocessSpec spec;
  int channels, height, width;
  bool dct_scaling;
};

std::array<Mode, 6> modes() {
  const PreprocessSpec imagenet = sluice::vision::imagenet_preset();
  PreprocessSpec gray;  // the Fashion-MNIST bundle
  gray.color = ColorOrder::kGray;
  gray.resize = ResizeMode::kStretch;
  gray.resize_width = gray.resize_height = 28;
  PreprocessSpec crop_only = imagenet;
  crop_only.resize = ResizeMode::kNone;
  PreprocessSpec as_is;  // no resize, no crop: only an image of the model's size passes
  PreprocessSpec bgr = imagenet;
  bgr.color = ColorOrder::kBgr;
  return {{{imagenet, 3, 224, 224, false},
           {gray, 1, 28, 28, false},
           {crop_only, 3, 224, 224, false},
           {as_is, 3, 8, 8, false},
           {bgr, 3, 224, 224, false},
           {imagenet, 3, 224, 224, true}}};
}

struct Path {
  sluice::engine::MemoryBudget budget{256u << 20};
  std::vector<std::unique_ptr<FramePreparer>> preparers;
  std::vector<float> tensor = std::vector<float>(3 * 224 * 224);

  Path() {
    for (const auto& m : modes()) {
      auto pre = Preprocessor::create(m.spec, m.channels, m.height, m.width);
      if (!pre) std::abort();
      preparers.push_back(
          std::make_unique<FramePreparer>(std::move(*pre), kMaxPixels, m.dct_scaling, &budget));
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Path path;
  if (size < 1) return 0;
  const std::uint8_t selector = data[0];
  FramePreparer& preparer = *path.preparers[(selector & 0x07u) % path.preparers.size()];
  std::span<const std::uint8_t> payload(data + 1, size - 1);
  if ((selector & 0x80u) != 0) {
    if (payload.size() < 4) return 0;
    sluice::Frame frame;
    const bool gray = preparer.preprocessor().spec().channels() == 1;
    frame.pixels = {gray ? sluice::PixelFormat::kGray8 : sluice::PixelFormat::kRgb24,
                    static_cast<std::uint32_t>((payload[0] << 8) | payload[1]),
                    static_cast<std::uint32_t>((payload[2] << 8) | payload[3])};
    frame.payload = sluice::Payload(std::vector<std::uint8_t>(payload.begin() + 4, payload.end()));
    (void)preparer.prepare(frame, path.tensor);
  } else {
    (void)preparer.prepare(payload, path.tensor);
  }
  // Every reservation is given back, and the decoder never sized more than was reserved.
  if (path.budget.held() != 0) std::abort();
  if (preparer.last_decoder_bytes() > preparer.last_need_bytes()) std::abort();
  return 0;
}
