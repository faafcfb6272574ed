#include "vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "vision/crop_resampler.h"

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

std::pair<std::int64_t, std::int64_t> resize_target(const PreprocessSpec& spec, int width, int height) {
  // Total: a side <= 0 counts as 0 and gives an empty target, which every caller rejects. Each
  // factor is below 2^31, so size * side stays below 2^62.
  const std::int64_t w = std::max(width, 0), h = std::max(height, 0);
  switch (spec.resize) {
    case ResizeMode::kNone:
      return {w, h};
    case ResizeMode::kStretch:
      return {std::max(spec.resize_width, 0), std::max(spec.resize_height, 0)};
    case ResizeMode::kShorterSide: {
      if (w == 0 || h == 0) return {0, 0};
      // int(size * long / short) in Python: the quotient of exact integers, so integer division.
      const std::int64_t size = std::max(spec.resize_shorter, 0);
      if (w <= h) return {size, size * h / w};
      return {size * w / h, size};
    }
  }
  return {w, h};
}

int center_crop_offset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  const int twice = size - crop;  // round(twice / 2), ties to even
  const int half = twice / 2;
  return (twice % 2 == 1 && half % 2 == 1) ? half + 1 : half;
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
  // torchvision computes ToTensor as v / 255 and Normalize as (x - mean) / std, each rounded to
  // float32. When 1 / scale is a whole number (255 for every preset and bundle), divide by it as
  // ToTensor does, so that each value is the very float torchvision produces.
  const double divisor = 1.0 / static_cast<double>(spec_.scale);
  const bool whole = std::abs(divisor - std::round(divisor)) < 1e-4 * divisor;
  for (std::size_t p = 0; p < 3; ++p) {
    Normalisation& n = normalisation_[p];
    n.divide = whole;
    n.divisor = static_cast<float>(std::round(divisor));
    n.scale = spec_.scale;
    n.mean = spec_.mean[p];
    n.std = spec_.std[p];
  }
  // Decoded pixels are RGB; a BGR model takes the planes in the other order.
  if (spec_.color == ColorOrder::kBgr) plane_channel_ = {2, 1, 0};
  if (channels_ == 1) plane_channel_ = {0, 0, 0};
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

Result<PreprocessGeometry> Preprocessor::geometry(int width, int height) const {
  if (width <= 0 || height <= 0) {
    return Status(Code::kDecode,
                  fmt::format("image of {}x{} pixels has nothing to preprocess", width, height));
  }
  const auto [resized_width, resized_height] = resize_target(spec_, width, height);
  constexpr std::int64_t kMaxSide = std::numeric_limits<int>::max();
  if (resized_width > kMaxSide || resized_height > kMaxSide) {
    return Status(Code::kLimit,
                  fmt::format("image of {}x{} would be resized to {}x{}, beyond what Pillow can "
                              "resize to",
                              width, height, resized_width, resized_height));
  }
  PreprocessGeometry g;
  g.resized_width = static_cast<int>(resized_width);
  g.resized_height = static_cast<int>(resized_height);
  g.width = width_;
  g.height = height_;
  if (spec_.crop_width > 0) {
    g.crop_left = center_crop_offset(g.resized_width, width_);
    g.crop_top = center_crop_offset(g.resized_height, height_);
  } else if (g.resized_width != width_ || g.resized_height != height_) {
    return Status(Code::kDecode, fmt::format("image is {}x{} but the model needs {}x{}; configure a resize",
                                             width, height, width_, height_));
  }
  return g;
}

std::uint64_t Preprocessor::buffer_bytes(const PreprocessGeometry& g, int width, int height) const {
  // In doubles: a 1 x 2^30 strip resized by its shorter side has factors whose product exceeds
  // 64 bits; the bound only needs to be large, not exact.
  const double w = std::max(width, 1), h = std::max(height, 1);
  const double c = channels_;
  const double columns = g.width + kColumnAlign, rows_out = g.height;
  const double taps_h = 2 * std::ceil(std::max(w / std::max(g.resized_width, 1), 1.0)) + 1;
  const double taps_v = 2 * std::ceil(std::max(h / std::max(g.resized_height, 1), 1.0)) + 1;
  const double coefficients = columns * (taps_h * 4 + 8) + rows_out * (taps_v * 4 + 12);
  // Tap offsets and weights, window bases, and the windows' shuffle masks.
  const double tables =
      taps_h * columns * (8 + static_cast<double>(kMaxWindows * kWindowBytes) / kWindowOutputs) + columns * 4;
  const double row_bytes = w * c;
  // The input rows the crop's rows read (each output row reads scale rows around its centre and
  // at most taps_v rows), through the horizontal pass, with a pointer each.
  const double rows_read =
      std::min(h, rows_out * std::max(h / std::max(g.resized_height, 1), 1.0) + taps_v + 2);
  const double rows = rows_read * (columns * c + 8);
  const double copies = 2 * (row_bytes + static_cast<double>(kRowSlack)) +
                        static_cast<double>(kRowSlack) * static_cast<double>(kRowSlack) +
                        3 * (w + static_cast<double>(kRowSlack));
  const double total = coefficients + tables + rows + copies;
  constexpr double kMax = 1.8e19;  // below 2^64
  return total >= kMax ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(total);
}

Status Preprocessor::run(const DecodedImage& image, std::span<float> out) const {
  if (image.channels != channels_) {
    return Status(Code::kInternal,
                  fmt::format("image has {} channels, expected {}", image.channels, channels_));
  }
  if (out.size() < tensor_elements()) return Status(Code::kInternal, "tensor slot too small");
  auto g = geometry(image.width, image.height);
  if (!g) return g.status();
  // Per thread (executors call this concurrently): tables and buffers kept between frames.
  thread_local CropResampler resampler;
  return resampler.run(image, *g, PlaneMapping{channels_, plane_channel_, normalisation_}, out);
}

}  // namespace sluice::vision
