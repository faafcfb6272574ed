#include "vision/preprocess.h"

#include "vision/antialiased_resize.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace sluice::vision {
namespace {

const char* color_name(ColorOrder c) {
  switch (c) {
    case ColorOrder::kRgb:
      return "rgb";
    case ColorOrder::kBgr:
      return "bgr";
    case ColorOrder::kGray:
      return "gray";
  }
  return "?";
}

}  // namespace

std::pair<int, int> resize_target(const PreprocessSpec& spec, int width, int height) {
  switch (spec.resize) {
    case ResizeMode::kNone:
      return {width, height};
    case ResizeMode::kStretch:
      return {spec.resize_width, spec.resize_height};
    case ResizeMode::kShorterSide:
      // torchvision: the shorter side becomes `size`, the longer one int(size * long / short).
      if (width <= height) {
        return {spec.resize_shorter,
                static_cast<int>(static_cast<long long>(spec.resize_shorter) * height / width)};
      }
      return {static_cast<int>(static_cast<long long>(spec.resize_shorter) * width / height),
              spec.resize_shorter};
  }
  return {width, height};
}

std::string PreprocessSpec::describe() const {
  std::string resize_text = "none";
  if (resize == ResizeMode::kShorterSide) resize_text = fmt::format("shorter side {}", resize_shorter);
  if (resize == ResizeMode::kStretch) resize_text = fmt::format("stretch {}x{}", resize_width, resize_height);
  return fmt::format(
      "color={} resize={} crop={}x{} scale={:.6g} mean=[{:.4g},{:.4g},{:.4g}] std=[{:.4g},{:.4g},{:.4g}]",
      color_name(color), resize_text, crop_width, crop_height, scale, mean[0], mean[1], mean[2], std[0],
      std[1], std[2]);
}

PreprocessSpec imagenet_preset() {
  PreprocessSpec spec;
  spec.color = ColorOrder::kRgb;
  spec.resize = ResizeMode::kShorterSide;
  spec.resize_shorter = 256;
  spec.crop_width = spec.crop_height = 224;
  spec.scale = 1.0f / 255.0f;
  spec.mean = {0.485f, 0.456f, 0.406f};
  spec.std = {0.229f, 0.224f, 0.225f};
  return spec;
}

Result<PreprocessSpec> preprocess_preset(std::string_view name) {
  if (name == "imagenet") return imagenet_preset();
  if (name == "none") return PreprocessSpec{};
  return Status(Code::kInvalidArgument,
                fmt::format("unknown preprocess preset '{}' (known: imagenet, none)", name));
}

Result<ColorOrder> parse_color(std::string_view text) {
  if (text == "rgb") return ColorOrder::kRgb;
  if (text == "bgr") return ColorOrder::kBgr;
  if (text == "gray" || text == "grey") return ColorOrder::kGray;
  return Status(Code::kInvalidArgument, fmt::format("unknown color '{}' (known: rgb, bgr, gray)", text));
}

Result<ResizeMode> parse_resize(std::string_view text) {
  if (text == "none") return ResizeMode::kNone;
  if (text == "shorter_side" || text == "shorter-side") return ResizeMode::kShorterSide;
  if (text == "stretch") return ResizeMode::kStretch;
  return Status(Code::kInvalidArgument,
                fmt::format("unknown resize '{}' (known: none, shorter_side, stretch)", text));
}

Preprocessor::Preprocessor(PreprocessSpec spec, int channels, int height, int width)
    : spec_(std::move(spec)), channels_(channels), height_(height), width_(width) {
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      lut_[c][v] = (static_cast<float>(v) * spec_.scale - spec_.mean[c]) / spec_.std[c];
    }
  }
}

Result<Preprocessor> Preprocessor::create(const PreprocessSpec& spec, int channels, int height, int width) {
  if (spec.channels() != channels) {
    return Status(Code::kInvalidArgument,
                  fmt::format("preprocess color '{}' gives {} channel(s) but the model input has {}",
                              color_name(spec.color), spec.channels(), channels));
  }
  for (float s : spec.std) {
    if (s == 0.0f) return Status(Code::kInvalidArgument, "preprocess std must not be 0");
  }
  if (spec.resize == ResizeMode::kShorterSide && spec.resize_shorter <= 0) {
    return Status(Code::kInvalidArgument, "resize shorter_side needs a positive size");
  }
  if (spec.resize == ResizeMode::kStretch && (spec.resize_width <= 0 || spec.resize_height <= 0)) {
    return Status(Code::kInvalidArgument, "resize stretch needs a positive width and height (resize_to)");
  }
  if (spec.crop_width > 0 && (spec.crop_width != width || spec.crop_height != height)) {
    return Status(Code::kInvalidArgument,
                  fmt::format("center crop {}x{} does not match the model input {}x{}", spec.crop_width,
                              spec.crop_height, width, height));
  }
  if (spec.crop_width == 0 && spec.resize == ResizeMode::kStretch &&
      (spec.resize_width != width || spec.resize_height != height)) {
    return Status(Code::kInvalidArgument,
                  fmt::format("resize {}x{} without a crop does not match the model input {}x{}",
                              spec.resize_width, spec.resize_height, width, height));
  }
  return Preprocessor(spec, channels, height, width);
}

std::size_t Preprocessor::tensor_elements() const {
  return static_cast<std::size_t>(channels_) * static_cast<std::size_t>(height_) *
         static_cast<std::size_t>(width_);
}

Status Preprocessor::run(const DecodedImage& image, std::span<float> out) const {
  if (image.channels != channels_) {
    return Status(Code::kInternal,
                  fmt::format("image has {} channels, expected {}", image.channels, channels_));
  }
  if (out.size() < tensor_elements()) return Status(Code::kInternal, "tensor slot too small");
  const int type = channels_ == 1 ? CV_8UC1 : CV_8UC3;
  const cv::Mat source(image.height, image.width, type, const_cast<std::uint8_t*>(image.pixels.data()));
  const auto [target_width, target_height] = resize_target(spec_, image.width, image.height);
  const cv::Size target(target_width, target_height);
  cv::Mat resized = source;
  // Per thread (executors call this concurrently): the resized image and the resize's scratch.
  thread_local DecodedImage resized_image;
  thread_local ResizeScratch scratch;
  if (target.width != image.width || target.height != image.height) {
    // torchvision's Resize on PIL images: PIL's antialiased bilinear filter, exactly.
    antialiased_resize(image, target.width, target.height, resized_image, scratch);
    resized = cv::Mat(resized_image.height, resized_image.width, type, resized_image.pixels.data());
  }
  int left = 0, top = 0;
  if (spec_.crop_width > 0) {
    if (resized.cols < width_ || resized.rows < height_) {
      return Status(Code::kDecode, fmt::format("image of {}x{} is smaller than the {}x{} crop after resizing",
                                               image.width, image.height, width_, height_));
    }
    // torchvision's CenterCrop rounds the offsets.
    left = static_cast<int>(std::lround((resized.cols - width_) / 2.0));
    top = static_cast<int>(std::lround((resized.rows - height_) / 2.0));
  } else if (resized.cols != width_ || resized.rows != height_) {
    return Status(Code::kDecode, fmt::format("image is {}x{} but the model needs {}x{}; configure a resize",
                                             image.width, image.height, width_, height_));
  }
  const std::size_t plane = static_cast<std::size_t>(height_) * static_cast<std::size_t>(width_);
  if (channels_ == 1) {
    const auto& lut = lut_[0];
    for (int y = 0; y < height_; ++y) {
      const std::uint8_t* row = resized.ptr<std::uint8_t>(top + y) + left;
      float* dst = out.data() + static_cast<std::size_t>(y) * width_;
      for (int x = 0; x < width_; ++x) dst[x] = lut[row[x]];
    }
    return Status::ok();
  }
  // Decoded pixels are RGB; BGR models take the planes in the other order.
  const bool bgr = spec_.color == ColorOrder::kBgr;
  float* plane0 = out.data();
  float* plane1 = out.data() + plane;
  float* plane2 = out.data() + 2 * plane;
  const auto& lut_r = lut_[bgr ? 2 : 0];
  const auto& lut_g = lut_[1];
  const auto& lut_b = lut_[bgr ? 0 : 2];
  float* r_plane = bgr ? plane2 : plane0;
  float* b_plane = bgr ? plane0 : plane2;
  for (int y = 0; y < height_; ++y) {
    const std::uint8_t* row = resized.ptr<std::uint8_t>(top + y) + 3 * left;
    const std::size_t offset = static_cast<std::size_t>(y) * width_;
    for (int x = 0; x < width_; ++x) {
      r_plane[offset + x] = lut_r[row[3 * x]];
      plane1[offset + x] = lut_g[row[3 * x + 1]];
      b_plane[offset + x] = lut_b[row[3 * x + 2]];
    }
  }
  return Status::ok();
}

}  // namespace sluice::vision
