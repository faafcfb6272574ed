#include "vision/resample_kernels.h"

#include <algorithm>

#include "vision/resize_coefficients.h"

namespace sluice::vision {
namespace {

constexpr std::int32_t kHalf = 1 << (kResizePrecisionBits - 1);

std::uint8_t clip8(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> kResizePrecisionBits, 0, 255));
}

}  // namespace

void run_horizontal_pass(const HorizontalPass& p) {
  const std::size_t columns = static_cast<std::size_t>(p.columns);
  for (int r = 0; r < p.row_count; ++r) {
    const std::uint8_t* row = p.rows[r];
    for (int c = 0; c < p.channels; ++c) {
      std::uint8_t* out =
          p.out + static_cast<std::size_t>(c) * p.plane_stride + static_cast<std::size_t>(r) * columns;
      for (std::size_t x = 0; x < columns; ++x) {
        std::int32_t sum = kHalf;
        for (int t = 0; t < p.taps; ++t) {
          const std::size_t k = static_cast<std::size_t>(t) * columns + x;
          sum += row[p.offsets[k] + c] * p.weights[k];
        }
        out[x] = clip8(sum);
      }
    }
  }
}

void run_vertical_pass(const VerticalPass& p) {
  const std::size_t columns = static_cast<std::size_t>(p.columns);
  for (int y = 0; y < p.rows_out; ++y) {
    const std::int32_t* w = p.weights + static_cast<std::size_t>(y) * static_cast<std::size_t>(p.taps);
    const std::uint8_t* in = p.in + static_cast<std::size_t>(p.first[y]) * columns;
    float* out = p.out + static_cast<std::size_t>(y) * p.out_stride;
    for (int x = 0; x < p.width; ++x) {
      std::int32_t sum = kHalf;
      for (int t = 0; t < p.count[y]; ++t) sum += in[static_cast<std::size_t>(t) * columns + x] * w[t];
      out[x] = p.lut[clip8(sum)];
    }
  }
}

}  // namespace sluice::vision
