// Pillow's mode conversions (libImaging/Convert.c) as Image.convert('RGB') and convert('L') apply
// them, on interleaved 8-bit rows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::vision {

/// Pillow's L24: ITU-R 601-2 luma in 16-bit fixed point, (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
/// libjpeg's own YCbCr -> gray (taking Y) differs from it in the last bit.
inline std::uint8_t pillow_luma(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return static_cast<std::uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

/// `pixels` pixels of `stride` bytes whose first three are R, G, B (alpha or padding ignored, as
/// rgb2l ignores it) to one luma byte each.
void pillow_rgb_to_luma(const std::uint8_t* in, std::size_t stride, std::size_t pixels, std::uint8_t* out);

/// CMYK as libjpeg decodes an Adobe JPEG to RGB as Pillow does: its "CMYK;I" raw mode inverts
/// each value, then cmyk2rgb: nk = 255 - K, channel = nk - nk * C / 255 (Pillow's MULDIV255).
void pillow_inverted_cmyk_to_rgb(const std::uint8_t* in, std::size_t pixels, std::uint8_t* out);

}  // namespace sluice::vision
