// Pillow's antialiased bilinear resize of a whole image (Image.resize(size, BILINEAR), which
// torchvision's Resize applies to PIL images), bit-exact with Pillow 9.4: fixed-point
// coefficients, horizontal pass first and only for the rows the vertical pass reads, each pass
// rounded to 8 bits. A pass whose size does not change is skipped, as Pillow skips it. The
// preprocessing path uses CropResampler, which computes only a crop of this; this whole-image
// form serves tools and tests.
#pragma once

#include <cstdint>
#include <vector>

#include "sluice/status.h"
#include "vision/image.h"
#include "vision/resize_coefficients.h"

namespace sluice::vision {

/// Kept between calls so that resizing allocates nothing once warmed up.
struct ResizeScratch {
  AxisCoefficients horizontal, vertical;
  std::vector<std::uint8_t> rows;  // the horizontal pass's result
};

/// Resizes an 8-bit interleaved image (any channel count) to width x height into `out`.
Status antialiased_resize(const DecodedImage& in, int width, int height, DecodedImage& out,
                          ResizeScratch& scratch);

}  // namespace sluice::vision
