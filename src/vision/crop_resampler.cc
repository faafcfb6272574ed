#include "vision/crop_resampler.h"

#include <algorithm>
#include <cstring>

#include "vision/resample_kernels.h"
#include "vision/simd_target.h"

namespace sluice::vision {

bool CropResampler::Plan::same(const DecodedImage& image, const PreprocessGeometry& g) const {
  return width == image.width && height == image.height && channels == image.channels &&
         geometry.resized_width == g.resized_width && geometry.resized_height == g.resized_height &&
         geometry.crop_left == g.crop_left && geometry.crop_top == g.crop_top && geometry.width == g.width &&
         geometry.height == g.height;
}

Status CropResampler::make_plan(const DecodedImage& image, const PreprocessGeometry& g, int x0, int x1,
                                int y0, int y1) {
  planned_ = false;
  const int cols = x1 - x0, rows_out = y1 - y0;
  if (auto st = compute_axis_coefficients(image.width, g.resized_width, g.crop_left + x0, cols, horizontal_);
      !st)
    return st;
  if (auto st =
          compute_axis_coefficients(image.height, g.resized_height, g.crop_top + y0, rows_out, vertical_);
      !st)
    return st;
  Plan& p = plan_;
  p.width = image.width;
  p.height = image.height;
  p.channels = image.channels;
  p.geometry = g;
  p.x0 = x0;
  p.y0 = y0;

  // Tables, tap-major. The gather path: a tap past an output's count reads that output's last
  // input pixel with weight 0, so every offset stays inside its row. The windowed path: each
  // group of kWindowOutputs outputs reads windows of kWindowBytes pixels from its first output's
  // first input; a tap past an output's count, or in another window, shuffles in zero.
  p.columns = (cols + kColumnAlign - 1) / kColumnAlign * kColumnAlign;
  const auto columns = static_cast<std::size_t>(p.columns);
  const std::size_t groups = columns / kWindowOutputs;
  p.taps = *std::max_element(horizontal_.count.begin(), horizontal_.count.end());
  const auto table_size = static_cast<std::size_t>(p.taps) * columns;
  tap_offsets_.assign(table_size, 0);
  tap_weights_.assign(table_size, 0);
  window_base_.assign(groups, 0);
  p.span_begin = horizontal_.first.front();
  p.span_end = horizontal_.input_end();
  int reach = 0;  // the most pixels a group reads from its base
  for (int x = 0; x < cols; ++x) {
    const auto xi = static_cast<std::size_t>(x);
    const int first = horizontal_.first[xi], count = horizontal_.count[xi];
    const auto group = static_cast<std::size_t>(x / kWindowOutputs);
    if (x % kWindowOutputs == 0) window_base_[group] = first - p.span_begin;
    reach = std::max(reach, first - p.span_begin - window_base_[group] + count);
    const std::int32_t* w = horizontal_.row(x);
    for (int t = 0; t < p.taps; ++t) {
      const std::size_t k = static_cast<std::size_t>(t) * columns + xi;
      tap_offsets_[k] = (first + std::min(t, count - 1)) * image.channels;
      tap_weights_[k] = t < count ? w[t] : 0;
    }
  }
  p.windows = (reach + kWindowBytes - 1) / kWindowBytes;
  if (p.windows > kMaxWindows) p.windows = 0;
  const auto windows = static_cast<std::size_t>(p.windows);
  shuffles_.assign(table_size * windows * kWindowBytes / kWindowOutputs, 0x80);
  for (int x = 0; p.windows > 0 && x < cols; ++x) {
    const auto xi = static_cast<std::size_t>(x);
    const auto group = static_cast<std::size_t>(x / kWindowOutputs);
    const int relative = horizontal_.first[xi] - p.span_begin - window_base_[group];
    for (int t = 0; t < horizontal_.count[xi]; ++t) {
      const auto window = static_cast<std::size_t>((relative + t) / kWindowBytes);
      const std::size_t block = (static_cast<std::size_t>(t) * windows + window) * groups + group;
      shuffles_[block * kWindowBytes + static_cast<std::size_t>(x % kWindowOutputs) * 4] =
          static_cast<std::uint8_t>((relative + t) % kWindowBytes);
    }
  }

  p.row_begin = vertical_.first.front();
  p.row_count = vertical_.input_end() - p.row_begin;
  vertical_first_.resize(static_cast<std::size_t>(rows_out));
  for (int i = 0; i < rows_out; ++i) {
    vertical_first_[static_cast<std::size_t>(i)] = vertical_.first[static_cast<std::size_t>(i)] - p.row_begin;
  }
  planned_ = true;
  return Status::ok();
}

Status CropResampler::run(const DecodedImage& image, const PreprocessGeometry& g, const PlaneMapping& m,
                          std::span<float> out) {
  const std::size_t plane_size = static_cast<std::size_t>(g.width) * static_cast<std::size_t>(g.height);
  if (out.size() < plane_size * static_cast<std::size_t>(m.planes) || image.channels != m.planes) {
    return Status(Code::kInternal, "crop resampler: tensor slot too small or channel mismatch");
  }
  // The output window that lies inside the resized image; the rest is torchvision's padding.
  const int x0 = std::max(0, -g.crop_left), x1 = std::min(g.width, g.resized_width - g.crop_left);
  const int y0 = std::max(0, -g.crop_top), y1 = std::min(g.height, g.resized_height - g.crop_top);
  if (x0 > 0 || y0 > 0 || x1 < g.width || y1 < g.height) {
    for (int p = 0; p < m.planes; ++p) {
      auto plane = out.subspan(static_cast<std::size_t>(p) * plane_size, plane_size);
      std::fill(plane.begin(), plane.end(), m.normalisation[static_cast<std::size_t>(p)](0));
    }
  }
  if (x1 <= x0 || y1 <= y0) return Status::ok();
  (void)apply_simd_environment();  // once per process; an unknown value is logged there
  if (!planned_ || !plan_.same(image, g)) {
    if (auto st = make_plan(image, g, x0, x1, y0, y1); !st) return st;
  }
  const Plan& p = plan_;

  // Kernels load whole vectors that may run up to kRowSlack bytes past a row's end: the image's
  // last rows, which have fewer bytes after them, are read from padded copies.
  const int channels = image.channels;
  const std::size_t row_bytes = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(channels);
  row_pointers_.resize(static_cast<std::size_t>(p.row_count));
  int tail = 0;  // rows at the image's end with fewer than kRowSlack bytes after them
  while (tail < image.height && static_cast<std::size_t>(tail) * row_bytes < kRowSlack) ++tail;
  const std::size_t tail_stride = row_bytes + kRowSlack;
  tail_rows_.resize(static_cast<std::size_t>(tail) * tail_stride);
  for (int r = 0; r < p.row_count; ++r) {
    const int y = p.row_begin + r;
    const std::uint8_t* row = image.pixels.data() + static_cast<std::size_t>(y) * row_bytes;
    const int from_end = image.height - 1 - y;
    if (from_end < tail) {
      std::uint8_t* copy = tail_rows_.data() + static_cast<std::size_t>(from_end) * tail_stride;
      std::memcpy(copy, row, row_bytes);
      std::memset(copy + row_bytes, 0, kRowSlack);
      row = copy;
    }
    row_pointers_[static_cast<std::size_t>(r)] = row;
  }
  // De-interleaved pixels of one row: whole vectors past the span, and windows past its last pixel.
  const std::size_t planar_stride = static_cast<std::size_t>(p.span_end - p.span_begin) + kRowSlack;
  planar_.resize(channels == 3 ? 3 * planar_stride : 0);

  const auto columns = static_cast<std::size_t>(p.columns);
  const std::size_t plane_stride = static_cast<std::size_t>(p.row_count) * columns;
  rows_.resize(plane_stride * static_cast<std::size_t>(channels));
  HorizontalPass h;
  h.rows = row_pointers_.data();
  h.row_count = p.row_count;
  h.channels = channels;
  h.columns = p.columns;
  h.taps = p.taps;
  h.weights = tap_weights_.data();
  h.out = rows_.data();
  h.plane_stride = plane_stride;
  h.windows = p.windows;
  h.span_begin = p.span_begin;
  h.span_end = p.span_end;
  h.window_base = window_base_.data();
  h.shuffles = shuffles_.data();
  h.planar = planar_.data();
  h.planar_stride = planar_stride;
  h.offsets = tap_offsets_.data();
  run_horizontal_pass(h);

  for (int pi = 0; pi < m.planes; ++pi) {
    const auto plane = static_cast<std::size_t>(pi);
    VerticalPass v;
    v.in = rows_.data() + static_cast<std::size_t>(m.channel[plane]) * plane_stride;
    v.columns = p.columns;
    v.rows_out = y1 - y0;
    v.taps = vertical_.taps;
    v.first = vertical_first_.data();
    v.count = vertical_.count.data();
    v.weights = vertical_.weights.data();
    v.normalisation = m.normalisation[plane];
    v.out = out.data() + plane * plane_size +
            static_cast<std::size_t>(y0) * static_cast<std::size_t>(g.width) + static_cast<std::size_t>(x0);
    v.out_stride = static_cast<std::size_t>(g.width);
    v.width = x1 - x0;
    run_vertical_pass(v);
  }
  return Status::ok();
}

}  // namespace sluice::vision
