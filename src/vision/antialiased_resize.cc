#include "vision/antialiased_resize.h"

#include <algorithm>
#include <cmath>

namespace sluice::vision {
namespace {

// Fills `c` for in_size -> out_size, reusing its vectors; a no-op when it already holds that pair.
void compute_coefficients(int in_size, int out_size, ResizeCoefficients& c) {
  if (c.in_size == in_size && c.out_size == out_size) return;
  c.in_size = in_size;
  c.out_size = out_size;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // the bilinear filter's support is 1
  c.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<std::size_t>(out_size));
  c.count.resize(static_cast<std::size_t>(out_size));
  c.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(c.taps), 0.0f);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    double total = 0.0;
    float* w = &c.weights[static_cast<std::size_t>(o) * static_cast<std::size_t>(c.taps)];
    for (int i = lo; i < hi; ++i) {
      const double x = std::abs((i - center + 0.5) / filter_scale);
      const double weight = x < 1.0 ? 1.0 - x : 0.0;
      w[i - lo] = static_cast<float>(weight);
      total += weight;
    }
    for (int i = 0; i < hi - lo; ++i) w[i] = total > 0 ? static_cast<float>(w[i] / total) : 0.0f;
    c.first[static_cast<std::size_t>(o)] = lo;
    c.count[static_cast<std::size_t>(o)] = hi - lo;
  }
}

std::uint8_t to_u8(float v) {
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

}  // namespace

void antialiased_resize(const DecodedImage& in, int width, int height, DecodedImage& out,
                        ResizeScratch& work) {
  const int ch = in.channels;
  compute_coefficients(in.width, width, work.horizontal);
  compute_coefficients(in.height, height, work.vertical);
  const ResizeCoefficients& h = work.horizontal;
  const ResizeCoefficients& v = work.vertical;
  std::vector<std::uint8_t>& scratch = work.rows;
  // Horizontal: in.height rows of `width` pixels.
  scratch.resize(static_cast<std::size_t>(in.height) * static_cast<std::size_t>(width) *
                 static_cast<std::size_t>(ch));
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* src = in.pixels.data() + static_cast<std::size_t>(y) * in.width * ch;
    std::uint8_t* dst = scratch.data() + static_cast<std::size_t>(y) * width * ch;
    for (int x = 0; x < width; ++x) {
      const float* w = &h.weights[static_cast<std::size_t>(x) * static_cast<std::size_t>(h.taps)];
      const int first = h.first[static_cast<std::size_t>(x)], n = h.count[static_cast<std::size_t>(x)];
      for (int c = 0; c < ch; ++c) {
        float acc = 0.0f;
        for (int k = 0; k < n; ++k) acc += w[k] * src[(first + k) * ch + c];
        dst[x * ch + c] = to_u8(acc);
      }
    }
  }
  // Vertical: `height` rows from the horizontal result.
  out.width = width;
  out.height = height;
  out.channels = ch;
  out.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
                    static_cast<std::size_t>(ch));
  const std::size_t row = static_cast<std::size_t>(width) * static_cast<std::size_t>(ch);
  std::vector<float>& acc = work.accumulator;
  acc.resize(row);
  for (int y = 0; y < height; ++y) {
    const float* w = &v.weights[static_cast<std::size_t>(y) * static_cast<std::size_t>(v.taps)];
    const int first = v.first[static_cast<std::size_t>(y)], n = v.count[static_cast<std::size_t>(y)];
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int k = 0; k < n; ++k) {
      const std::uint8_t* src = scratch.data() + static_cast<std::size_t>(first + k) * row;
      for (std::size_t i = 0; i < row; ++i) acc[i] += w[k] * src[i];
    }
    std::uint8_t* dst = out.pixels.data() + static_cast<std::size_t>(y) * row;
    for (std::size_t i = 0; i < row; ++i) dst[i] = to_u8(acc[i]);
  }
}

}  // namespace sluice::vision
