// probe_image: an image's dimensions and layout from its header, without decoding it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace sluice::vision {

enum class ImageFormat : std::uint8_t { kJpeg, kPng };

/// What a header claims. Untrusted: any value, including 0 and sides above 2^31.
struct ImageSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  ImageFormat format = ImageFormat::kPng;
  /// JPEG: the frame's components (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK; up to 255 claimed).
  int components = 0;
  /// JPEG: libjpeg buffers the whole image's DCT coefficients (a progressive frame, or a first
  /// scan that holds fewer than all components), not one row of blocks.
  bool jpeg_whole_image_coefficients = false;
};

/// The dimensions a JPEG (SOF marker) or PNG (IHDR) header claims; nothing for anything else or
/// a header that cannot be read (the decoder then reports why). Reads only the header (for JPEG,
/// up to the first scan's header).
std::optional<ImageSize> probe_image(std::span<const std::uint8_t> bytes);

}  // namespace sluice::vision
