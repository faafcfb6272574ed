// Prescaling: a large picture is converted straight to a smaller size (1/2 down to 1/8) when the
// model's resize target is small, as libjpeg-turbo's DCT scaling does for JPEG frames. The
// preprocessing's exact antialiased resize then starts from far fewer pixels.
#pragma once

#include <functional>
#include <utility>

namespace sluice::video {

/// The model's resize target (width, height) for a width x height picture.
using ResizeTarget = std::function<std::pair<int, int>(int width, int height)>;

/// The size to convert a width x height picture to: scaled by the smallest of 1/8, 2/8, 3/8 and
/// 4/8 whose result (rounded up) is still at least twice `target` in both directions, or the
/// picture's own size when none is (the rule of vision::ImageDecoder's DCT scaling).
std::pair<int, int> prescaled_size(int width, int height, std::pair<int, int> target);

}  // namespace sluice::video
