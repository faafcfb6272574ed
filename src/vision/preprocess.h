// Preprocessing described by the model: resize, center crop, scale, mean/std, colour order,
// written as NCHW floats straight into a slot of the batch tensor.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "sluice/status.h"
#include "vision/image.h"
#include "vision/resample_kernels.h"

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
/// size when the spec does not resize). torchvision's rule for shorter_side: the shorter side
/// becomes `resize_shorter`, the longer one int(resize_shorter * long / short). 64-bit: a 1 x N
/// strip can ask for more than 2^31 pixels. Total: defined for every int; a side <= 0 gives an
/// empty (0) target, and every result is in [0, 2^62).
std::pair<std::int64_t, std::int64_t> resize_target(const PreprocessSpec& spec, int width, int height);

/// Where the model input comes from: the image resized to resized_width x resized_height, then
/// torchvision's CenterCrop. The crop's top-left corner is (crop_left, crop_top) in the resized
/// image, rounded half to even as Python's round() does; it is negative on an axis where the
/// resized image is smaller than the crop, and torchvision pads it with zeros.
struct PreprocessGeometry {
  int resized_width = 0;
  int resized_height = 0;
  int crop_left = 0;
  int crop_top = 0;
  int width = 0;  // the model input
  int height = 0;
};

/// torchvision's CenterCrop offset on one axis: round((size - crop) / 2) with ties to even when the
/// image is larger, -((crop - size) // 2) when torchvision pads it.
int center_crop_offset(int size, int crop);

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
  /// Resizing is bit-exact with Pillow 9.4's Image.resize(size, BILINEAR), and the floats with
  /// torchvision's ToTensor + Normalize; only the pixels the crop keeps are computed.
  Status run(const DecodedImage& image, std::span<float> out) const;

  /// The resize and crop `run` applies to a width x height image, or why it cannot.
  Result<PreprocessGeometry> geometry(int width, int height) const;

  /// An upper bound of the bytes `run` allocates for a width x height image with geometry `g`
  /// (coefficient tables, the horizontal pass's rows, padded row copies). Saturates, never wraps.
  std::uint64_t buffer_bytes(const PreprocessGeometry& g, int width, int height) const;

  const PreprocessSpec& spec() const { return spec_; }
  std::size_t tensor_elements() const;

 private:
  Preprocessor(PreprocessSpec spec, int channels, int height, int width);
  PreprocessSpec spec_;
  int channels_, height_, width_;
  std::array<Normalisation, 3> normalisation_{};  // per model plane: ToTensor + Normalize
  std::array<int, 3> plane_channel_{0, 1, 2};     // the decoded image's channel behind model plane p
};

}  // namespace sluice::vision
