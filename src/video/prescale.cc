#include "video/prescale.h"

#include <cstdint>

namespace sluice::video {

std::pair<int, int> prescaled_size(int width, int height, std::pair<int, int> target) {
  // 64-bit: any int picture and target, without overflow.
  const std::int64_t need_w = target.first, need_h = target.second;
  for (std::int64_t eighths = 1; eighths <= 4; ++eighths) {
    const std::int64_t w = (width * eighths + 7) / 8;
    const std::int64_t h = (height * eighths + 7) / 8;
    if (w > 0 && h > 0 && w >= 2 * need_w && h >= 2 * need_h)
      return {static_cast<int>(w), static_cast<int>(h)};
  }
  return {width, height};
}

}  // namespace sluice::video
