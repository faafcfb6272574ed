// The fixed-point coefficients of Pillow's antialiased bilinear resize along one axis
// (Resample.c: precompute_coeffs, then normalize_coeffs_8bpc), computed with the same double
// arithmetic in the same order so that every coefficient is bit-identical to Pillow 9.4's.
#pragma once

#include <cstdint>
#include <vector>

#include "sluice/status.h"

namespace sluice::vision {

/// Pillow's PRECISION_BITS: coefficients are integers scaled by 2^22.
inline constexpr int kResizePrecisionBits = 32 - 8 - 2;

/// Per output position: the first input index, how many inputs it reads, and `taps` weights
/// (zero past `count`). Holds a window of outputs [first_output, first_output + outputs()).
struct AxisCoefficients {
  int in_size = 0;
  int out_size = 0;
  int first_output = 0;
  int taps = 0;  // Pillow's ksize
  std::vector<int> first;
  std::vector<int> count;
  std::vector<std::int32_t> weights;  // outputs() x taps

  int outputs() const { return static_cast<int>(first.size()); }
  const std::int32_t* row(int i) const { return weights.data() + static_cast<std::size_t>(i) * taps; }
  /// One past the last input index any output of the window reads.
  int input_end() const;
};

/// Fills `c` for an in_size -> out_size resize, outputs [first_output, first_output + n), reusing
/// its buffers (no allocation once they are large enough). Fails, as Pillow does with a
/// MemoryError, when out_size x taps coefficients would overflow Pillow's int arithmetic.
Status compute_axis_coefficients(int in_size, int out_size, int first_output, int n, AxisCoefficients& c);

}  // namespace sluice::vision
