#include "vision/pillow_convert.h"

#include <algorithm>

namespace sluice::vision {
namespace {

int muldiv255(int a, int b) {
  const int tmp = a * b + 128;
  return ((tmp >> 8) + tmp) >> 8;
}

std::uint8_t clip8(int v) {
  return static_cast<std::uint8_t>(std::clamp(v, 0, 255));
}

}  // namespace

void pillow_rgb_to_luma(const std::uint8_t* in, std::size_t stride, std::size_t pixels, std::uint8_t* out) {
  for (std::size_t i = 0; i < pixels; ++i, in += stride) out[i] = pillow_luma(in[0], in[1], in[2]);
}

void pillow_inverted_cmyk_to_rgb(const std::uint8_t* in, std::size_t pixels, std::uint8_t* out) {
  for (std::size_t i = 0; i < pixels; ++i, in += 4, out += 3) {
    const int nk = in[3];  // 255 - (255 - stored K)
    for (int c = 0; c < 3; ++c) out[c] = clip8(nk - muldiv255(255 - in[c], nk));
  }
}

}  // namespace sluice::vision
