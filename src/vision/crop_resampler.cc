#include "vision/crop_resampler.h"

#include <algorithm>
#include <cstring>


#include "vision/resample_kernels.h"

namespace sluice::vision {

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
      std::fill(plane.begin(), plane.end(), m.lut[static_cast<std::size_t>(p)][0]);
    }
  }
  if (x1 <= x0 || y1 <= y0) return Status::ok();
  const int cols = x1 - x0, rows_out = y1 - y0;
  if (auto st = compute_axis_coefficients(image.width, g.resized_width, g.crop_left + x0, cols, horizontal_);
      !st)
    return st;
  if (auto st =
          compute_axis_coefficients(image.height, g.resized_height, g.crop_top + y0, rows_out, vertical_);
      !st)
    return st;

  // Gather tables, tap-major: a tap past an output's count reads that output's last input pixel
  // with weight 0, so every offset stays inside its row.
  const int channels = image.channels;
  const int columns = (cols + kColumnAlign - 1) / kColumnAlign * kColumnAlign;
  const int taps = *std::max_element(horizontal_.count.begin(), horizontal_.count.end());
  const auto table_size = static_cast<std::size_t>(taps) * static_cast<std::size_t>(columns);
  tap_offsets_.assign(table_size, 0);
  tap_weights_.assign(table_size, 0);
  for (int x = 0; x < cols; ++x) {
    const auto xi = static_cast<std::size_t>(x);
    const int first = horizontal_.first[xi], count = horizontal_.count[xi];
    const std::int32_t* w = horizontal_.row(x);
    for (int t = 0; t < taps; ++t) {
      const std::size_t k = static_cast<std::size_t>(t) * static_cast<std::size_t>(columns) + xi;
      tap_offsets_[k] = (first + std::min(t, count - 1)) * channels;
      tap_weights_[k] = t < count ? w[t] : 0;
    }
  }

  // The input rows the kept output rows read. A kernel reads a 32-bit word from the start of any
  // pixel, up to 4 - channels bytes past the row's end: the image's last rows, which have fewer
  // bytes after them, are read from padded copies.
  const int row_begin = vertical_.first.front();
  const int row_count = vertical_.input_end() - row_begin;
  const std::size_t row_bytes = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(channels);
  const auto slack = static_cast<std::size_t>(4 - channels);
  row_pointers_.resize(static_cast<std::size_t>(row_count));
  int tail = 0;  // rows at the image's end with fewer than `slack` bytes after them
  while (tail < image.height && static_cast<std::size_t>(tail) * row_bytes < slack) ++tail;
  const std::size_t tail_stride = row_bytes + 4;
  tail_rows_.resize(static_cast<std::size_t>(tail) * tail_stride);
  for (int r = 0; r < row_count; ++r) {
    const int y = row_begin + r;
    const std::uint8_t* row = image.pixels.data() + static_cast<std::size_t>(y) * row_bytes;
    const int from_end = image.height - 1 - y;
    if (from_end < tail) {
      std::uint8_t* copy = tail_rows_.data() + static_cast<std::size_t>(from_end) * tail_stride;
      std::memcpy(copy, row, row_bytes);
      std::memset(copy + row_bytes, 0, 4);
      row = copy;
    }
    row_pointers_[static_cast<std::size_t>(r)] = row;
  }

  const std::size_t plane_stride = static_cast<std::size_t>(row_count) * static_cast<std::size_t>(columns);
  rows_.resize(plane_stride * static_cast<std::size_t>(channels));
  HorizontalPass h;
  h.rows = row_pointers_.data();
  h.row_count = row_count;
  h.channels = channels;
  h.columns = columns;
  h.taps = taps;
  h.offsets = tap_offsets_.data();
  h.weights = tap_weights_.data();
  h.out = rows_.data();
  h.plane_stride = plane_stride;
  run_horizontal_pass(h);

  vertical_first_.resize(static_cast<std::size_t>(rows_out));
  for (int i = 0; i < rows_out; ++i) {
    vertical_first_[static_cast<std::size_t>(i)] = vertical_.first[static_cast<std::size_t>(i)] - row_begin;
  }
  for (int p = 0; p < m.planes; ++p) {
    const auto pi = static_cast<std::size_t>(p);
    VerticalPass v;
    v.in = rows_.data() + static_cast<std::size_t>(m.channel[pi]) * plane_stride;
    v.columns = columns;
    v.rows_out = rows_out;
    v.taps = vertical_.taps;
    v.first = vertical_first_.data();
    v.count = vertical_.count.data();
    v.weights = vertical_.weights.data();
    v.lut = m.lut[pi];
    v.out = out.data() + pi * plane_size + static_cast<std::size_t>(y0) * static_cast<std::size_t>(g.width) +
            static_cast<std::size_t>(x0);
    v.out_stride = static_cast<std::size_t>(g.width);
    v.width = cols;
    run_vertical_pass(v);
  }
  return Status::ok();
}

}  // namespace sluice::vision
