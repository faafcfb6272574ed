#include "vision/resize_coefficients.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include <fmt/format.h>

namespace sluice::vision {
namespace {

// Pillow's bilinear_filter (support 1).
double bilinear(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

}  // namespace

int AxisCoefficients::input_end() const {
  int end = 0;
  for (int i = 0; i < outputs(); ++i) {
    end = std::max(end, first[static_cast<std::size_t>(i)] + count[static_cast<std::size_t>(i)]);
  }
  return end;
}

Status compute_axis_coefficients(int in_size, int out_size, int first_output, int n, AxisCoefficients& c) {
  if (in_size <= 0 || out_size <= 0 || first_output < 0 || n < 0 || first_output + n > out_size) {
    return Status(Code::kInternal, fmt::format("bad resize window: {} -> {}, outputs {}+{}", in_size,
                                               out_size, first_output, n));
  }
  // Pillow passes the box as floats: in1 - in0 is a float subtraction, exact below 2^24.
  const double scale = static_cast<double>(static_cast<float>(in_size) - 0.0f) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  // Pillow's check, out_size > INT_MAX / (ksize * sizeof(double)), in doubles: a downscale of a
  // very long side has more taps than an int multiplication holds.
  const double taps_exact = std::ceil(support) * 2 + 1;
  if (taps_exact * static_cast<double>(sizeof(double)) * out_size > static_cast<double>(INT_MAX)) {
    return Status(Code::kLimit,
                  fmt::format("cannot resize {} pixels to {}: Pillow refuses a resize this large "
                              "(its coefficient table would overflow)",
                              in_size, out_size));
  }
  const int taps = static_cast<int>(taps_exact);
  c.in_size = in_size;
  c.out_size = out_size;
  c.first_output = first_output;
  c.taps = taps;
  c.first.resize(static_cast<std::size_t>(n));
  c.count.resize(static_cast<std::size_t>(n));
  c.weights.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(taps));
  const double ss = 1.0 / filterscale;
  for (int i = 0; i < n; ++i) {
    const int xx = first_output + i;
    const double center = 0.0 + (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    // ww sums the raw weights in Pillow's order; each weight is then recomputed (the same
    // deterministic value), divided by ww and rounded to fixed point as normalize_coeffs_8bpc does.
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) ww += bilinear((x + xmin - center + 0.5) * ss);
    std::int32_t* out = c.weights.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(taps);
    for (int x = 0; x < xmax; ++x) {
      double w = bilinear((x + xmin - center + 0.5) * ss);
      if (ww != 0.0) w /= ww;
      out[x] = static_cast<std::int32_t>(0.5 + w * (1 << kResizePrecisionBits));  // never negative
    }
    std::fill(out + xmax, out + taps, 0);
    c.first[static_cast<std::size_t>(i)] = xmin;
    c.count[static_cast<std::size_t>(i)] = xmax;
  }
  return Status::ok();
}

}  // namespace sluice::vision
