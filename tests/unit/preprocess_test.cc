// Tests for the preprocessing presets, Preprocessor::create validation and Preprocessor::run.
#include "vision/preprocess.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sluice/status.h"

namespace sluice::vision {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

DecodedImage flat_image(int width, int height, int channels, std::vector<std::uint8_t> value) {
  DecodedImage image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  for (int i = 0; i < width * height; ++i)
    image.pixels.insert(image.pixels.end(), value.begin(), value.end());
  return image;
}

// An identity spec (scale 1, mean 0, std 1) with the given colour order and no resize or crop.
PreprocessSpec identity_spec(ColorOrder color) {
  PreprocessSpec spec;
  spec.color = color;
  spec.scale = 1.0f;
  spec.mean = {0.0f, 0.0f, 0.0f};
  spec.std = {1.0f, 1.0f, 1.0f};
  return spec;
}

TEST(PreprocessTest, ImagenetPresetFields) {
  const PreprocessSpec spec = imagenet_preset();
  EXPECT_EQ(spec.color, ColorOrder::kRgb);
  EXPECT_EQ(spec.resize, ResizeMode::kShorterSide);
  EXPECT_EQ(spec.resize_shorter, 256);
  EXPECT_EQ(spec.crop_width, 224);
  EXPECT_EQ(spec.crop_height, 224);
  EXPECT_FLOAT_EQ(spec.scale, 1.0f / 255.0f);
  EXPECT_FLOAT_EQ(spec.mean[0], 0.485f);
  EXPECT_FLOAT_EQ(spec.mean[1], 0.456f);
  EXPECT_FLOAT_EQ(spec.mean[2], 0.406f);
  EXPECT_FLOAT_EQ(spec.std[0], 0.229f);
  EXPECT_FLOAT_EQ(spec.std[1], 0.224f);
  EXPECT_FLOAT_EQ(spec.std[2], 0.225f);
  EXPECT_EQ(spec.channels(), 3);
}

TEST(PreprocessTest, PresetsByName) {
  auto imagenet = preprocess_preset("imagenet");
  ASSERT_TRUE(imagenet.is_ok());
  EXPECT_EQ(imagenet->resize_shorter, 256);
  EXPECT_EQ(imagenet->crop_width, 224);

  auto none = preprocess_preset("none");
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->resize, ResizeMode::kNone);
  EXPECT_EQ(none->crop_width, 0);
}

TEST(PreprocessTest, UnknownPresetListsKnownNames) {
  auto preset = preprocess_preset("nope");
  ASSERT_FALSE(preset.is_ok());
  EXPECT_EQ(preset.status().code(), Code::kInvalidArgument);
  const std::string& message = preset.status().message();
  EXPECT_TRUE(contains(message, "nope")) << message;
  EXPECT_TRUE(contains(message, "imagenet")) << message;
  EXPECT_TRUE(contains(message, "none")) << message;
}

TEST(PreprocessTest, ParsesColorsAndResizeModes) {
  EXPECT_EQ(*parse_color("rgb"), ColorOrder::kRgb);
  EXPECT_EQ(*parse_color("bgr"), ColorOrder::kBgr);
  EXPECT_EQ(*parse_color("gray"), ColorOrder::kGray);
  EXPECT_EQ(*parse_color("grey"), ColorOrder::kGray);
  EXPECT_FALSE(parse_color("cmyk").is_ok());
  EXPECT_EQ(*parse_resize("none"), ResizeMode::kNone);
  EXPECT_EQ(*parse_resize("shorter_side"), ResizeMode::kShorterSide);
  EXPECT_EQ(*parse_resize("stretch"), ResizeMode::kStretch);
  EXPECT_FALSE(parse_resize("zoom").is_ok());
}

TEST(PreprocessTest, CreateRejectsMismatchedChannels) {
  PreprocessSpec gray = identity_spec(ColorOrder::kGray);
  auto p = Preprocessor::create(gray, 3, 28, 28);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);

  auto rgb = Preprocessor::create(identity_spec(ColorOrder::kRgb), 1, 28, 28);
  ASSERT_FALSE(rgb.is_ok());
  EXPECT_EQ(rgb.status().code(), Code::kInvalidArgument);
}

TEST(PreprocessTest, CreateRejectsCropNotMatchingTheModel) {
  auto p = Preprocessor::create(imagenet_preset(), 3, 299, 299);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(p.status().message(), "224x224")) << p.status().message();

  EXPECT_TRUE(Preprocessor::create(imagenet_preset(), 3, 224, 224).is_ok());
}

TEST(PreprocessTest, CreateRejectsZeroStd) {
  for (int c = 0; c < 3; ++c) {
    PreprocessSpec spec = identity_spec(ColorOrder::kRgb);
    spec.std[static_cast<std::size_t>(c)] = 0.0f;
    auto p = Preprocessor::create(spec, 3, 4, 4);
    ASSERT_FALSE(p.is_ok()) << "std[" << c << "] = 0";
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  }
}

TEST(PreprocessTest, CreateRejectsBadResizeSettings) {
  PreprocessSpec shorter = identity_spec(ColorOrder::kRgb);
  shorter.resize = ResizeMode::kShorterSide;
  shorter.resize_shorter = 0;
  EXPECT_FALSE(Preprocessor::create(shorter, 3, 4, 4).is_ok());

  PreprocessSpec stretch = identity_spec(ColorOrder::kRgb);
  stretch.resize = ResizeMode::kStretch;
  EXPECT_FALSE(Preprocessor::create(stretch, 3, 4, 4).is_ok());
  stretch.resize_width = 8;
  stretch.resize_height = 8;
  EXPECT_FALSE(Preprocessor::create(stretch, 3, 4, 4).is_ok());  // 8x8 without a crop is not 4x4
  EXPECT_TRUE(Preprocessor::create(stretch, 3, 8, 8).is_ok());
}

TEST(PreprocessTest, FlatGrayNormalisesExactly) {
  PreprocessSpec spec;
  spec.color = ColorOrder::kGray;
  spec.scale = 1.0f / 255.0f;
  spec.mean = {0.5f, 0.5f, 0.5f};
  spec.std = {0.5f, 0.5f, 0.5f};
  auto p = Preprocessor::create(spec, 1, 28, 28);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->tensor_elements(), 28u * 28u);

  for (int value : {0, 51, 128, 255}) {
    SCOPED_TRACE(value);
    const DecodedImage image = flat_image(28, 28, 1, {static_cast<std::uint8_t>(value)});
    std::vector<float> out(28 * 28, -99.0f);
    const Status st = p->run(image, out);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    const float expected = (static_cast<float>(value) * (1.0f / 255.0f) - 0.5f) / 0.5f;
    for (float v : out) ASSERT_FLOAT_EQ(v, expected);
  }
  // The ends of the range are exactly -1 and 1.
  std::vector<float> out(28 * 28);
  ASSERT_TRUE(p->run(flat_image(28, 28, 1, {0}), out).is_ok());
  EXPECT_FLOAT_EQ(out[0], -1.0f);
  ASSERT_TRUE(p->run(flat_image(28, 28, 1, {255}), out).is_ok());
  EXPECT_FLOAT_EQ(out[0], 1.0f);
}

TEST(PreprocessTest, RgbIsWrittenAsChwPlanes) {
  auto p = Preprocessor::create(identity_spec(ColorOrder::kRgb), 3, 5, 4);
  ASSERT_TRUE(p.is_ok());
  const DecodedImage image = flat_image(4, 5, 3, {10, 20, 30});
  std::vector<float> out(3 * 5 * 4, -1.0f);
  ASSERT_TRUE(p->run(image, out).is_ok());
  const std::size_t plane = 5 * 4;
  for (std::size_t i = 0; i < plane; ++i) {
    EXPECT_FLOAT_EQ(out[i], 10.0f);
    EXPECT_FLOAT_EQ(out[plane + i], 20.0f);
    EXPECT_FLOAT_EQ(out[2 * plane + i], 30.0f);
  }
}

TEST(PreprocessTest, RgbKeepsPixelPositions) {
  // A 3x2 image with distinct values per pixel and channel: position (x, y) lands at y*W + x.
  DecodedImage image;
  image.width = 3;
  image.height = 2;
  image.channels = 3;
  for (int i = 0; i < 6; ++i) {
    image.pixels.push_back(static_cast<std::uint8_t>(i));
    image.pixels.push_back(static_cast<std::uint8_t>(100 + i));
    image.pixels.push_back(static_cast<std::uint8_t>(200 + i));
  }
  auto p = Preprocessor::create(identity_spec(ColorOrder::kRgb), 3, 2, 3);
  ASSERT_TRUE(p.is_ok());
  std::vector<float> out(18);
  ASSERT_TRUE(p->run(image, out).is_ok());
  for (int i = 0; i < 6; ++i) {
    EXPECT_FLOAT_EQ(out[static_cast<std::size_t>(i)], static_cast<float>(i));
    EXPECT_FLOAT_EQ(out[static_cast<std::size_t>(6 + i)], static_cast<float>(100 + i));
    EXPECT_FLOAT_EQ(out[static_cast<std::size_t>(12 + i)], static_cast<float>(200 + i));
  }
}

TEST(PreprocessTest, BgrReversesThePlanes) {
  auto p = Preprocessor::create(identity_spec(ColorOrder::kBgr), 3, 5, 4);
  ASSERT_TRUE(p.is_ok());
  const DecodedImage image = flat_image(4, 5, 3, {10, 20, 30});
  std::vector<float> out(3 * 5 * 4, -1.0f);
  ASSERT_TRUE(p->run(image, out).is_ok());
  const std::size_t plane = 5 * 4;
  for (std::size_t i = 0; i < plane; ++i) {
    EXPECT_FLOAT_EQ(out[i], 30.0f);
    EXPECT_FLOAT_EQ(out[plane + i], 20.0f);
    EXPECT_FLOAT_EQ(out[2 * plane + i], 10.0f);
  }
}

TEST(PreprocessTest, BgrMeanAndStdFollowThePlaneOrder) {
  // mean/std are given in the model's plane order: for BGR, mean[0] applies to the blue plane.
  PreprocessSpec spec = identity_spec(ColorOrder::kBgr);
  spec.mean = {1.0f, 2.0f, 3.0f};
  spec.std = {1.0f, 2.0f, 4.0f};
  auto p = Preprocessor::create(spec, 3, 1, 1);
  ASSERT_TRUE(p.is_ok());
  std::vector<float> out(3);
  ASSERT_TRUE(p->run(flat_image(1, 1, 3, {10, 20, 30}), out).is_ok());
  EXPECT_FLOAT_EQ(out[0], (30.0f - 1.0f) / 1.0f);  // B
  EXPECT_FLOAT_EQ(out[1], (20.0f - 2.0f) / 2.0f);  // G
  EXPECT_FLOAT_EQ(out[2], (10.0f - 3.0f) / 4.0f);  // R
}

TEST(PreprocessTest, ShorterSideResizeAndCenterCrop) {
  auto p = Preprocessor::create(imagenet_preset(), 3, 224, 224);
  ASSERT_TRUE(p.is_ok());
  EXPECT_EQ(p->tensor_elements(), 3u * 224u * 224u);
  const DecodedImage image = flat_image(300, 200, 3, {255, 0, 128});
  std::vector<float> out(p->tensor_elements(), -99.0f);
  const Status st = p->run(image, out);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  // A flat image stays flat through resize and crop.
  const std::size_t plane = 224 * 224;
  const float r = (1.0f - 0.485f) / 0.229f;
  const float g = (0.0f - 0.456f) / 0.224f;
  const float b = (128.0f / 255.0f - 0.406f) / 0.225f;
  for (std::size_t i = 0; i < plane; ++i) {
    ASSERT_NEAR(out[i], r, 1e-4);
    ASSERT_NEAR(out[plane + i], g, 1e-4);
    ASSERT_NEAR(out[2 * plane + i], b, 1e-4);
  }
}

TEST(PreprocessTest, ShrinkingTallImageWorks) {
  auto p = Preprocessor::create(imagenet_preset(), 3, 224, 224);
  ASSERT_TRUE(p.is_ok());
  const DecodedImage image = flat_image(400, 900, 3, {50, 60, 70});
  std::vector<float> out(p->tensor_elements());
  EXPECT_TRUE(p->run(image, out).is_ok());
}

TEST(PreprocessTest, ImageSmallerThanCropIsPaddedWithZerosAsTorchvisionDoes) {
  // No resize: a 100x60 image in a 224x224 crop. torchvision's CenterCrop pads with pixel value 0,
  // (224 - 100) // 2 = 62 columns on the left and (224 - 60) // 2 = 82 rows on top.
  PreprocessSpec spec = imagenet_preset();
  spec.resize = ResizeMode::kNone;
  auto p = Preprocessor::create(spec, 3, 224, 224);
  ASSERT_TRUE(p.is_ok());
  auto g = p->geometry(100, 60);
  ASSERT_TRUE(g) << g.status().to_string();
  EXPECT_EQ(g->crop_left, -62);
  EXPECT_EQ(g->crop_top, -82);
  std::vector<float> out(p->tensor_elements(), -99.0f);
  ASSERT_TRUE(p->run(flat_image(100, 60, 3, {255, 255, 255}), out).is_ok());
  const float zero = (0.0f - 0.485f) / 0.229f, white = (1.0f - 0.485f) / 0.229f;
  for (int y = 0; y < 224; ++y) {
    for (int x = 0; x < 224; ++x) {
      const bool inside = x >= 62 && x < 162 && y >= 82 && y < 142;
      ASSERT_FLOAT_EQ(out[static_cast<std::size_t>(y * 224 + x)], inside ? white : zero) << x << "," << y;
    }
  }
}

TEST(PreprocessTest, CenterCropRoundsHalfToEvenAsPython) {
  EXPECT_EQ(center_crop_offset(341, 224), 58);  // 58.5: Python's round gives 58, std::lround 59
  EXPECT_EQ(center_crop_offset(343, 224), 60);  // 59.5 -> 60
  EXPECT_EQ(center_crop_offset(345, 224), 60);  // 60.5 -> 60
  EXPECT_EQ(center_crop_offset(384, 224), 80);
  EXPECT_EQ(center_crop_offset(224, 224), 0);
  EXPECT_EQ(center_crop_offset(225, 224), 0);    // 0.5 -> 0
  EXPECT_EQ(center_crop_offset(227, 224), 2);    // 1.5 -> 2
  EXPECT_EQ(center_crop_offset(100, 224), -62);  // padded: (224 - 100) // 2 on the left
  EXPECT_EQ(center_crop_offset(101, 224), -61);
}

TEST(PreprocessTest, GeometryFollowsTorchvisionResizeAndCenterCrop) {
  auto p = Preprocessor::create(imagenet_preset(), 3, 224, 224);
  ASSERT_TRUE(p.is_ok());
  struct Case {
    int w, h, resized_w, resized_h, left, top;
  };
  for (const Case& c : {Case{768, 576, 341, 256, 58, 16}, Case{773, 512, 386, 256, 81, 16},
                        Case{500, 500, 256, 256, 16, 16}, Case{97, 131, 256, 345, 16, 60},
                        Case{1, 300, 256, 76800, 16, 38288}, Case{300, 1, 76800, 256, 38288, 16}}) {
    SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h));
    auto g = p->geometry(c.w, c.h);
    ASSERT_TRUE(g) << g.status().to_string();
    EXPECT_EQ(g->resized_width, c.resized_w);
    EXPECT_EQ(g->resized_height, c.resized_h);
    EXPECT_EQ(g->crop_left, c.left);
    EXPECT_EQ(g->crop_top, c.top);
  }
  // A strip whose resize would pass 2^31 pixels on a side is refused with the reason.
  auto huge = p->geometry(1, 10'000'000);
  ASSERT_FALSE(huge.is_ok());
  EXPECT_EQ(huge.status().code(), Code::kLimit);
  EXPECT_TRUE(contains(huge.status().message(), "1x10000000")) << huge.status().message();
}

TEST(PreprocessTest, ResizeThatPillowRefusesIsAnError) {
  // 1 x 1,000,000 resizes to 256 x 256,000,000: Pillow raises MemoryError (its coefficient table
  // would overflow int), so torchvision fails on it; sluice says why instead.
  auto p = Preprocessor::create(imagenet_preset(), 3, 224, 224);
  ASSERT_TRUE(p.is_ok());
  std::vector<float> out(p->tensor_elements());
  const Status st = p->run(flat_image(1, 1'000'000, 3, {1, 2, 3}), out);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kLimit);
  EXPECT_TRUE(contains(st.message(), "Pillow")) << st.message();
  // 1 x 300 (256 x 76,800) is fine, as in torchvision.
  EXPECT_TRUE(p->run(flat_image(1, 300, 3, {1, 2, 3}), out).is_ok());
}

TEST(PreprocessTest, WrongSizeWithoutResizeIsAnError) {
  auto p = Preprocessor::create(identity_spec(ColorOrder::kGray), 1, 28, 28);
  ASSERT_TRUE(p.is_ok());
  std::vector<float> out(28 * 28);
  const Status st = p->run(flat_image(27, 28, 1, {0}), out);
  ASSERT_FALSE(st.is_ok());
  EXPECT_TRUE(contains(st.message(), "resize")) << st.message();
}

TEST(PreprocessTest, StretchResizesToTheModelSize) {
  PreprocessSpec spec = identity_spec(ColorOrder::kGray);
  spec.resize = ResizeMode::kStretch;
  spec.resize_width = 28;
  spec.resize_height = 28;
  auto p = Preprocessor::create(spec, 1, 28, 28);
  ASSERT_TRUE(p.is_ok());
  std::vector<float> out(28 * 28);
  ASSERT_TRUE(p->run(flat_image(56, 40, 1, {200}), out).is_ok());
  for (float v : out) ASSERT_NEAR(v, 200.0f, 1e-3);
}

TEST(PreprocessTest, RunRejectsWrongChannelsAndSmallOutput) {
  auto p = Preprocessor::create(identity_spec(ColorOrder::kRgb), 3, 2, 2);
  ASSERT_TRUE(p.is_ok());
  std::vector<float> out(12);
  EXPECT_FALSE(p->run(flat_image(2, 2, 1, {0}), out).is_ok());
  std::vector<float> small(11);
  EXPECT_FALSE(p->run(flat_image(2, 2, 3, {0, 0, 0}), small).is_ok());
}

}  // namespace
}  // namespace sluice::vision
