#include "video/prescale.h"

namespace sluice::video {

std::pair<int, int> prescaled_size(int width, int height, std::pair<int, int> target) {
  const auto [need_w, need_h] = target;
  for (int eighths = 1; eighths <= 4; ++eighths) {
    const int w = (width * eighths + 7) / 8;
    const int h = (height * eighths + 7) / 8;
    if (w >= 2 * need_w && h >= 2 * need_h) return {w, h};
  }
  return {width, height};
}

}  // namespace sluice::video
