// DecodedImage: interleaved 8-bit pixels, row-major, no padding.
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::vision {

struct DecodedImage {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3 (RGB)
  std::vector<std::uint8_t> pixels;
};

}  // namespace sluice::vision
