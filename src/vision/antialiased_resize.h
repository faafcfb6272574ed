// PIL's antialiased bilinear resize (Image.resize(size, BILINEAR)), which torchvision's Resize
// applies to PIL images: a triangle filter whose support widens with the reduction factor.
#pragma once

#include <cstdint>
#include <vector>

#include "vision/image.h"

namespace sluice::vision {

/// Per output position of one axis: the first input index and normalised weights (PIL's
/// precompute_coeffs), for one (input size, output size) pair.
struct ResizeCoefficients {
  int in_size = 0;
  int out_size = 0;
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;  // out_size x taps
};

/// Everything a resize needs besides its input and output, kept between calls so that resizing
/// allocates nothing once warmed up (the coefficients are recomputed only when a size changes).
struct ResizeScratch {
  ResizeCoefficients horizontal, vertical;
  std::vector<std::uint8_t> rows;  // the horizontal pass's result
  std::vector<float> accumulator;  // one output row of the vertical pass
};

/// Resizes an 8-bit interleaved image to width x height, horizontal pass first, rounding each
/// pass to 8 bits as PIL does.
void antialiased_resize(const DecodedImage& in, int width, int height, DecodedImage& out,
                        ResizeScratch& scratch);

}  // namespace sluice::vision
