// Property tests of the frame path (header check, budget reservation, decode, preprocessing) on
// degenerate images, in every preprocessing mode: each gives a Status error that names its rule,
// or the tensor torchvision gives; none crashes, and a reservation always covers what the decoder
// allocated.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/frame_preparer.h"
#include "engine/memory_budget.h"
#include "sluice/frame.h"
#include "support/degenerate_images.h"
#include "vision/image_decoder.h"
#include "vision/image_probe.h"
#include "vision/preprocess.h"

namespace sluice::test {
namespace {

using engine::FramePreparer;
using engine::MemoryBudget;
using vision::ColorOrder;
using vision::Preprocessor;
using vision::PreprocessSpec;
using vision::ResizeMode;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct Mode {
  std::string name;
  PreprocessSpec spec;
  int channels, height, width;
  bool dct_scaling;
};

// The modes the fuzzer drives too: ImageNet (shorter side + crop), stretch gray (the Fashion
// bundle), a crop without resize, neither, BGR, and ImageNet with JPEG DCT scaling.
std::vector<Mode> modes() {
  const PreprocessSpec imagenet = vision::imagenet_preset();
  PreprocessSpec gray;
  gray.color = ColorOrder::kGray;
  gray.resize = ResizeMode::kStretch;
  gray.resize_width = gray.resize_height = 28;
  PreprocessSpec crop_only = imagenet;
  crop_only.resize = ResizeMode::kNone;
  PreprocessSpec bgr = imagenet;
  bgr.color = ColorOrder::kBgr;
  return {{"imagenet", imagenet, 3, 224, 224, false},
          {"stretch_gray", gray, 1, 28, 28, false},
          {"crop_only", crop_only, 3, 224, 224, false},
          {"as_is", PreprocessSpec{}, 3, 8, 8, false},
          {"bgr", bgr, 3, 224, 224, false},
          {"imagenet_dct", imagenet, 3, 224, 224, true}};
}

struct Path {
  explicit Path(const Mode& m, std::uint64_t max_pixels = 1u << 22, std::size_t budget_bytes = 512u << 20)
      : budget(budget_bytes) {
    auto pre = Preprocessor::create(m.spec, m.channels, m.height, m.width);
    EXPECT_TRUE(pre.is_ok()) << pre.status().to_string();
    preparer = std::make_unique<FramePreparer>(std::move(*pre), max_pixels, m.dct_scaling, &budget);
    tensor.assign(preparer->preprocessor().tensor_elements(), -1000.0f);
  }
  Status prepare(const ImageBytes& bytes) { return preparer->prepare(bytes, tensor); }

  MemoryBudget budget;
  std::unique_ptr<FramePreparer> preparer;
  std::vector<float> tensor;
};

TEST(ResizeTargetTest, IsTotalForEveryIntInEveryMode) {
  const std::vector<int> sides = {INT_MIN, -1, 0, 1, 2, 3, 255, 256, 100000, INT_MAX - 1, INT_MAX};
  for (const auto& m : modes()) {
    for (int w : sides) {
      for (int h : sides) {
        const auto [tw, th] = vision::resize_target(m.spec, w, h);
        EXPECT_GE(tw, 0) << m.name << " " << w << "x" << h;
        EXPECT_GE(th, 0) << m.name << " " << w << "x" << h;
        EXPECT_LT(tw, std::int64_t{1} << 62) << m.name << " " << w << "x" << h;
        EXPECT_LT(th, std::int64_t{1} << 62) << m.name << " " << w << "x" << h;
        if ((w <= 0 || h <= 0) && m.spec.resize != ResizeMode::kStretch) {
          EXPECT_TRUE(tw == 0 || th == 0) << m.name << " " << w << "x" << h;
        }
      }
    }
  }
  const auto imagenet = vision::imagenet_preset();
  EXPECT_EQ(vision::resize_target(imagenet, 1, 100000),
            (std::pair<std::int64_t, std::int64_t>{256, 25600000}));
  EXPECT_EQ(vision::resize_target(imagenet, 100000, 1),
            (std::pair<std::int64_t, std::int64_t>{25600000, 256}));
  EXPECT_EQ(vision::resize_target(imagenet, 1, INT_MAX),
            (std::pair<std::int64_t, std::int64_t>{256, std::int64_t{256} * INT_MAX}));
}

TEST(DegenerateImagesTest, ZeroSidesNameTheRuleInEveryMode) {
  for (const auto& m : modes()) {
    Path path(m);
    for (const char* name : {"png_0x0", "png_0x5", "png_5x0", "jpeg_0x0", "jpeg_0x16"}) {
      for (const auto& [entry, bytes] : degenerate_images()) {
        if (entry != name) continue;
        const Status st = path.prepare(bytes);
        EXPECT_EQ(st.code(), Code::kDecode) << m.name << " " << name << ": " << st.to_string();
        EXPECT_TRUE(contains(st.message(), "(rule: both sides must be > 0)"))
            << m.name << " " << st.to_string();
      }
    }
    EXPECT_EQ(path.budget.held(), 0u);
  }
}

TEST(DegenerateImagesTest, HugeHeadersAreRefusedBeforeAnyBufferInEveryMode) {
  for (const auto& m : modes()) {
    // A pixel limit above 2^31: the side rule, not only the pixel limit, must stop a 2^31 side.
    Path path(m, std::uint64_t{1} << 40);
    for (const char* name : {"png_2p31x1", "png_huge_header"}) {
      for (const auto& [entry, bytes] : degenerate_images()) {
        if (entry != name) continue;
        const Status st = path.prepare(bytes);
        EXPECT_EQ(st.code(), Code::kLimit) << m.name << " " << name << ": " << st.to_string();
        EXPECT_TRUE(contains(st.message(), "(rule: each side must be below 2^31")) << st.to_string();
        EXPECT_EQ(path.preparer->last_decoder_bytes(), 0u);
      }
    }
  }
}

TEST(DegenerateImagesTest, EveryDegenerateImageGivesAStatusInEveryMode) {
  for (const auto& m : modes()) {
    Path path(m);
    for (const auto& [name, bytes] : degenerate_images()) {
      const Status st = path.prepare(bytes);
      if (!st) {
        EXPECT_FALSE(st.message().empty()) << m.name << " " << name;
      }
      EXPECT_GE(path.preparer->last_need_bytes(), path.preparer->last_decoder_bytes())
          << m.name << " " << name;
      EXPECT_EQ(path.budget.held(), 0u) << m.name << " " << name;
    }
    // An honest image still goes through the same preparer afterwards.
    const ImageBytes honest = png_with_header(m.width, m.height, 8, m.channels == 1 ? 0 : 2, true);
    EXPECT_TRUE(path.prepare(honest)) << m.name;
  }
}

// torchvision's value of a constant image: the resize and the crop keep it (a crop past the
// image pads with 0 instead).
float normalised(const Mode& m, int plane, int value) {
  const auto p = static_cast<std::size_t>(m.channels == 1 ? 0 : plane);
  return (static_cast<float>(value) / 255.0f - m.spec.mean[p]) / m.spec.std[p];
}

TEST(DegenerateImagesTest, OnePixelAndExtremeAspectRatiosGiveTorchvisionsTensor) {
  struct Case {
    std::uint32_t width, height;
  };
  for (const auto& m : modes()) {
    if (m.spec.resize == ResizeMode::kNone) continue;  // below: these sizes need a resize
    for (const Case c : {Case{1, 1}, Case{1, 100000}, Case{100000, 1}}) {
      Path path(m, 1u << 22, 1024u << 20);
      const ImageBytes png = png_with_header(c.width, c.height, 8, m.channels == 1 ? 0 : 2, true, 200);
      const Status st = path.prepare(png);
      ASSERT_TRUE(st) << m.name << " " << c.width << "x" << c.height << ": " << st.to_string();
      // A constant image stays constant through Pillow's bilinear resize (up to its fixed-point
      // rounding, one level) and torchvision's crop of an image at least as large as the crop.
      for (std::size_t i = 0; i < path.tensor.size(); ++i) {
        const int plane = static_cast<int>(i / (static_cast<std::size_t>(m.width) * m.height));
        const float v = path.tensor[i];
        EXPECT_TRUE(std::abs(v - normalised(m, plane, 200)) <=
                    std::abs(normalised(m, plane, 201) - normalised(m, plane, 200)) + 1e-5f)
            << m.name << " " << c.width << "x" << c.height << " element " << i << " = " << v;
        if (::testing::Test::HasFailure()) return;
      }
      EXPECT_GE(path.preparer->last_need_bytes(), path.preparer->last_decoder_bytes());
    }
  }
}

TEST(DegenerateImagesTest, WithoutAResizeOnlyTheModelsSizeOrACropPasses) {
  const auto all = modes();
  const Mode& as_is = all[3];
  const Mode& crop_only = all[2];
  Path plain(as_is);
  EXPECT_TRUE(plain.prepare(png_with_header(8, 8, 8, 2, true)));
  const Status wrong = plain.prepare(png_with_header(1, 1, 8, 2, true));
  EXPECT_EQ(wrong.code(), Code::kDecode) << wrong.to_string();
  EXPECT_TRUE(contains(wrong.message(), "configure a resize")) << wrong.to_string();
  // A 1x1 image centre-cropped to 224x224: torchvision pads with zeros around the one pixel, at
  // (111, 111) (CenterCrop's offset -((224 - 1) // 2)).
  Path cropped(crop_only);
  ASSERT_TRUE(cropped.prepare(png_with_header(1, 1, 8, 2, true, 200)));
  for (int p = 0; p < 3; ++p) {
    const auto plane = static_cast<std::size_t>(p) * 224 * 224;
    EXPECT_FLOAT_EQ(cropped.tensor[plane + 111 * 224 + 111], normalised(crop_only, p, 200));
    EXPECT_FLOAT_EQ(cropped.tensor[plane], normalised(crop_only, p, 0));
  }
}

TEST(DegenerateImagesTest, ExactlyAtThePixelLimitPassesAndOneOverIsRefused) {
  for (const auto& m : modes()) {
    if (m.spec.resize == ResizeMode::kNone) continue;
    Path path(m, 64 * 64);
    const int type = m.channels == 1 ? 0 : 2;
    EXPECT_TRUE(path.prepare(png_with_header(64, 64, 8, type, true))) << m.name;
    EXPECT_TRUE(path.prepare(jpeg_image(64, 64, m.channels == 1 ? JpegKind::kGray : JpegKind::kRgb420)))
        << m.name;
    for (const auto& over : {png_with_header(64, 65, 8, type, true), jpeg_image(65, 64, JpegKind::kRgb420),
                             png_with_header(4097, 1, 8, type, true)}) {
      const Status st = path.prepare(over);
      EXPECT_EQ(st.code(), Code::kLimit) << m.name << ": " << st.to_string();
      EXPECT_TRUE(contains(st.message(), "(rule: --max-pixels)")) << st.to_string();
    }
    // Raw pixels (a decoded video picture) are held to the same limit.
    Frame raw;
    raw.pixels = {m.channels == 1 ? PixelFormat::kGray8 : PixelFormat::kRgb24, 65, 64};
    raw.payload = Payload(std::vector<std::uint8_t>(65 * 64 * static_cast<std::size_t>(m.channels), 9));
    EXPECT_EQ(path.preparer->prepare(raw, path.tensor).code(), Code::kLimit) << m.name;
    raw.pixels.width = 0;
    const Status zero = path.preparer->prepare(raw, path.tensor);
    EXPECT_TRUE(contains(zero.message(), "(rule: both sides must be > 0)")) << zero.to_string();
    EXPECT_EQ(path.budget.held(), 0u);
  }
}

TEST(DegenerateImagesTest, AHeaderThatLiesAboutTheDataIsAnErrorOrAnImageNeverACrash) {
  for (const auto& m : modes()) {
    Path path(m);
    for (const auto& [name, bytes] : degenerate_images()) {
      if (!contains(name, "lies") && !contains(name, "truncated")) continue;
      const Status st = path.prepare(bytes);
      if (contains(name, "png")) {
        EXPECT_EQ(st.code(), Code::kDecode) << m.name << " " << name << ": " << st.to_string();
      } else {
        EXPECT_TRUE(st.code() == Code::kOk || st.code() == Code::kDecode) << st.to_string();
      }
      EXPECT_GE(path.preparer->last_need_bytes(), path.preparer->last_decoder_bytes());
    }
  }
}

// Issue 18: an RGBA PNG or a CMYK JPEG decoded through buffers the budget did not count.
TEST(DecodeBudgetTest, TheReservationCoversEveryBufferTheDecoderAllocates) {
  struct Case {
    std::string name;
    ImageBytes bytes;
    std::uint64_t output_pixels;
  };
  const int w = 301, h = 203;
  const auto pixels = static_cast<std::uint64_t>(w) * h;
  const std::vector<Case> cases = {
      {"rgba", png_with_header(w, h, 8, 6, true), pixels},
      {"rgba16", png_with_header(w, h, 16, 6, true), pixels},
      {"gray16", png_with_header(w, h, 16, 0, true), pixels},
      {"gray_alpha", png_with_header(w, h, 8, 4, true), pixels},
      {"palette_trns", png_with_header(w, h, 8, 3, true), pixels},
      {"cmyk", jpeg_image(w, h, JpegKind::kCmyk), pixels},
      {"progressive", jpeg_image(w, h, JpegKind::kProgressive), pixels},
      {"progressive_cmyk", jpeg_image(w, h, JpegKind::kProgressiveCmyk), pixels},
      {"rgb420", jpeg_image(w, h, JpegKind::kRgb420), pixels},
  };
  for (const auto& m : modes()) {
    if (m.spec.resize == ResizeMode::kNone) continue;
    for (const auto& c : cases) {
      Path path(m);
      ASSERT_TRUE(path.prepare(c.bytes)) << m.name << " " << c.name;
      const auto decoder = path.preparer->last_decoder_bytes();
      const auto reserved = path.preparer->last_need_bytes();
      EXPECT_GE(reserved, decoder) << m.name << " " << c.name;
      if (!m.dct_scaling) {
        // The decoder's own buffers: at least the output, and more where it converts.
        EXPECT_GE(decoder, c.output_pixels * static_cast<std::uint64_t>(m.channels))
            << m.name << " " << c.name;
      }
      if (c.name == "rgba" || c.name == "cmyk") {
        EXPECT_GE(decoder, c.output_pixels * (4 + static_cast<std::uint64_t>(m.channels)))
            << m.name << " " << c.name;
      }
      EXPECT_EQ(path.budget.held(), 0u);
    }
  }
}

TEST(DecodeBudgetTest, ABudgetTooSmallForTheDecodeRefusesItByName) {
  const auto all = modes();
  Path path(all[0], 1u << 22, 2u << 20);  // 2 MiB: a 1000x1000 CMYK decode needs more
  const Status st = path.prepare(jpeg_image(1000, 1000, JpegKind::kCmyk));
  EXPECT_EQ(st.code(), Code::kLimit) << st.to_string();
  EXPECT_TRUE(contains(st.message(), "(rule: --memory-budget")) << st.to_string();
  EXPECT_EQ(path.preparer->last_decoder_bytes(), 0u);  // refused before any buffer
  EXPECT_EQ(path.budget.held(), 0u);
  EXPECT_TRUE(path.prepare(png_with_header(64, 64, 8, 2, true)));  // a small image still fits
}

TEST(ImageProbeTest, ReportsProgressiveAndMultiScanJpegs) {
  const auto baseline = vision::probe_image(jpeg_image(40, 24, JpegKind::kRgb420));
  ASSERT_TRUE(baseline.has_value());
  EXPECT_EQ(baseline->width, 40u);
  EXPECT_EQ(baseline->height, 24u);
  EXPECT_EQ(baseline->components, 3);
  EXPECT_FALSE(baseline->jpeg_whole_image_coefficients);
  const auto progressive = vision::probe_image(jpeg_image(40, 24, JpegKind::kProgressiveCmyk));
  ASSERT_TRUE(progressive.has_value());
  EXPECT_EQ(progressive->components, 4);
  EXPECT_TRUE(progressive->jpeg_whole_image_coefficients);
  auto cut = jpeg_image(40, 24, JpegKind::kRgb420);
  cut.resize(200);  // before the scan header: assumed buffered
  const auto truncated = vision::probe_image(cut);
  if (truncated) {
    EXPECT_TRUE(truncated->jpeg_whole_image_coefficients);
  }
}

}  // namespace
}  // namespace sluice::test
