// Issue 18, part 4: what a frame reserves in the memory budget covers every byte its decode and
// preprocessing allocate, the codec libraries' own buffers included. Measured, not modelled: this
// binary replaces malloc, calloc, realloc and free, and counts the peak of the bytes live on the
// preparing thread (libjpeg-turbo and libpng allocate on the caller's thread) above where it began.
//
// Not built under sanitizers, which replace malloc themselves.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/frame_preparer.h"
#include "engine/memory_budget.h"
#include "support/degenerate_images.h"
#include "vision/preprocess.h"

extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void __libc_free(void*);

namespace {

struct Live {
  bool on = false;
  std::int64_t bytes = 0;  // allocated minus freed since counting began (frees of older blocks too)
  std::int64_t peak = 0;
};
thread_local Live live;

void added(void* p) {
  if (live.on && p != nullptr) {
    live.bytes += static_cast<std::int64_t>(malloc_usable_size(p));
    live.peak = std::max(live.peak, live.bytes);
  }
}
void removed(void* p) {
  if (live.on && p != nullptr) live.bytes -= static_cast<std::int64_t>(malloc_usable_size(p));
}

}  // namespace

extern "C" void* malloc(std::size_t size) {
  void* p = __libc_malloc(size);
  added(p);
  return p;
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
  void* p = __libc_calloc(n, size);
  added(p);
  return p;
}
extern "C" void* realloc(void* old, std::size_t size) {
  removed(old);
  void* p = __libc_realloc(old, size);
  added(p);
  return p;
}
extern "C" void free(void* p) {
  removed(p);
  __libc_free(p);
}

namespace sluice::test {
namespace {

using vision::ColorOrder;
using vision::PreprocessSpec;
using vision::ResizeMode;

struct Case {
  std::string name;
  ImageBytes bytes;
};

TEST(DecodePeakMemoryTest, TheReservationCoversThePeakOfEveryDecodeInEveryMode) {
  const int w = 1500, h = 1000;
  const std::vector<Case> cases = {
      {"rgb_png", png_with_header(w, h, 8, 2, true)},
      {"rgba_png", png_with_header(w, h, 8, 6, true)},
      {"rgba16_png", png_with_header(w, h, 16, 6, true)},
      {"gray16_png", png_with_header(w, h, 16, 0, true)},
      {"palette_trns_png", png_with_header(w, h, 8, 3, true)},
      {"gray1_png", png_with_header(w, h, 1, 0, true)},
      {"rgb420_jpeg", jpeg_image(w, h, JpegKind::kRgb420)},
      {"gray_jpeg", jpeg_image(w, h, JpegKind::kGray)},
      {"cmyk_jpeg", jpeg_image(w, h, JpegKind::kCmyk)},
      {"progressive_jpeg", jpeg_image(w, h, JpegKind::kProgressive)},
      {"progressive_cmyk_jpeg", jpeg_image(w, h, JpegKind::kProgressiveCmyk)},
      {"1x65535_png", png_with_header(1, 65535, 8, 2, true)},
  };
  PreprocessSpec gray;
  gray.color = ColorOrder::kGray;
  gray.resize = ResizeMode::kStretch;
  gray.resize_width = gray.resize_height = 28;
  struct Mode {
    std::string name;
    PreprocessSpec spec;
    int channels, size;
    bool dct;
  };
  const std::vector<Mode> modes = {{"imagenet", vision::imagenet_preset(), 3, 224, false},
                                   {"stretch_gray", gray, 1, 28, false},
                                   {"imagenet_dct", vision::imagenet_preset(), 3, 224, true}};
  for (const auto& m : modes) {
    for (const auto& c : cases) {
      SCOPED_TRACE(m.name + " " + c.name);
      engine::MemoryBudget budget(1u << 30);
      auto pre = vision::Preprocessor::create(m.spec, m.channels, m.size, m.size);
      ASSERT_TRUE(pre.is_ok());
      auto preparer = std::make_unique<engine::FramePreparer>(std::move(*pre), 64u << 20, m.dct, &budget);
      std::vector<float> tensor(preparer->preprocessor().tensor_elements());
      live = Live{true, 0, 0};
      const Status st = preparer->prepare(c.bytes, tensor);
      live.on = false;
      ASSERT_TRUE(st) << st.to_string();
      const auto peak = static_cast<std::uint64_t>(live.peak);
      const auto reserved = preparer->last_need_bytes();
      EXPECT_GE(reserved, peak) << "reserved " << reserved << " bytes, allocated up to " << peak;
      // Not so loose that it refuses what would fit: the reservation is within 4x the peak.
      EXPECT_LE(reserved, 4 * peak + (4u << 20)) << "reserved " << reserved << ", peak " << peak;
      RecordProperty(m.name + "_" + c.name, std::to_string(peak) + "/" + std::to_string(reserved));
    }
  }
}

}  // namespace
}  // namespace sluice::test
