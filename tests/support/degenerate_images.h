// Degenerate and unusual images for the frame path's tests and its fuzz corpus: headers that claim
// 0 or huge sides, extreme aspect ratios, every PNG layout (palette, alpha, 16-bit), CMYK and
// progressive JPEGs, and truncated data.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sluice::test {

using ImageBytes = std::vector<std::uint8_t>;

/// A PNG whose IHDR says width x height, bit_depth and color_type (0 gray, 2 RGB, 3 palette,
/// 4 gray+alpha, 6 RGBA). With `real_rows`, IDAT holds every row of a pattern (deflated; a palette
/// image also gets PLTE and tRNS); without, a few bytes that do not inflate to the image.
/// `fill` >= 0: every sample byte is that value instead.
ImageBytes png_with_header(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type,
                           bool real_rows, int fill = -1);

enum class JpegKind { kGray, kRgb444, kRgb420, kCmyk, kProgressive, kProgressiveCmyk };

/// A width x height JPEG of a gradient, encoded by TurboJPEG.
ImageBytes jpeg_image(int width, int height, JpegKind kind);

/// The JPEG with its frame header's (SOF) width and height replaced: a header that lies.
ImageBytes with_jpeg_size(ImageBytes jpeg, std::uint16_t width, std::uint16_t height);

/// The named set the fuzz corpus and the end-to-end test use (every entry is at most a few KiB).
std::vector<std::pair<std::string, ImageBytes>> degenerate_images();

}  // namespace sluice::test
