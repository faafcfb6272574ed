// PIL's antialiased bilinear resize (Image.resize(size, BILINEAR)), which torchvision's Resize
// applies to PIL images: a triangle filter whose support widens with the reduction factor.
#pragma once

#include <cstdint>
#include <vector>

#include "vision/image.h"

namespace sluice::vision {

/// Resizes an 8-bit interleaved image to width x height, horizontal pass first, rounding each
/// pass to 8 bits as PIL does. `scratch` is reused between calls.
void antialiased_resize(const DecodedImage& in, int width, int height, DecodedImage& out,
                        std::vector<std::uint8_t>& scratch);

}  // namespace sluice::vision
