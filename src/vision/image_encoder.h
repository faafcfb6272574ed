// PNG encoding (libpng), used by the producer to send raw dataset images as PNG frames.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sluice/status.h"

namespace sluice::vision {

/// Encodes 8-bit pixels (1 = gray, 3 = RGB channels, row-major, no padding) as a PNG file.
Result<std::vector<std::uint8_t>> encode_png(std::span<const std::uint8_t> pixels, int width, int height,
                                             int channels);

}  // namespace sluice::vision
