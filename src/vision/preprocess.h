// Preprocessing described by the model: resize, center crop, scale, mean/std, colour order,
// written as NCHW floats straight into a slot of the batch tensor.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "sluice/status.h"
#include "vision/image.h"

namespace sluice::vision {

enum class ColorOrder { kRgb, kBgr, kGray };
enum class ResizeMode {
  kNone,         // the decoded image is used as it is
  kShorterSide,  // scale so the shorter side is `resize_shorter`, keeping the aspect ratio
  kStretch,      // scale to exactly resize_width x resize_height
};

struct PreprocessSpec {
  ColorOrder color = ColorOrder::kRgb;
  ResizeMode resize = ResizeMode::kNone;
  int resize_shorter = 0;
  int resize_width = 0;
  int resize_height = 0;
  int crop_width = 0;  // center crop; 0 = none
  int crop_height = 0;
  float scale = 1.0f / 255.0f;  // applied to each 0..255 value before mean/std
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};

  int channels() const { return color == ColorOrder::kGray ? 1 : 3; }
  std::string describe() const;
};

/// The width and height the resize step produces for a width x height image (the image's own
/// size when the spec does not resize).
std::pair<int, int> resize_target(const PreprocessSpec& spec, int width, int height);

/// torchvision's ImageNet standard: RGB, shorter side 256, center crop 224, mean/std normalised.
PreprocessSpec imagenet_preset();
/// A preset by name ("imagenet", "none"), or an error listing the known names.
Result<PreprocessSpec> preprocess_preset(std::string_view name);
Result<ColorOrder> parse_color(std::string_view text);
Result<ResizeMode> parse_resize(std::string_view text);

/// Applies a spec for a model input of `channels` x `height` x `width`. Stateless after
/// construction; safe to share between threads.
class Preprocessor {
 public:
  /// Fails when the spec cannot produce the model's input shape.
  static Result<Preprocessor> create(const PreprocessSpec& spec, int channels, int height, int width);

  /// Writes channels*height*width floats (CHW) to `out`. `image` must have spec.channels().
  Status run(const DecodedImage& image, std::span<float> out) const;

  const PreprocessSpec& spec() const { return spec_; }
  std::size_t tensor_elements() const;

 private:
  Preprocessor(PreprocessSpec spec, int channels, int height, int width);
  PreprocessSpec spec_;
  int channels_, height_, width_;
  // lut_[c][v] = (v * scale - mean[c]) / std[c]: one table lookup per pixel value.
  std::array<std::array<float, 256>, 3> lut_{};
};

}  // namespace sluice::vision
