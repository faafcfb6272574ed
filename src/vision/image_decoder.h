// ImageDecoder: JPEG (libjpeg-turbo) and PNG (libpng) payloads to 8-bit gray or RGB pixels.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "sluice/status.h"
#include "vision/image.h"
#include "vision/preprocess.h"

namespace sluice::vision {

inline constexpr std::uint64_t kDefaultMaxPixels = 64ull << 20;  // 64 Mpixel

/// Not thread-safe: each executor owns one. The image's dimensions are read from its header and
/// checked against `max_pixels` before any pixel buffer is allocated (decompression bombs).
class ImageDecoder {
 public:
  explicit ImageDecoder(std::uint64_t max_pixels = kDefaultMaxPixels);
  ~ImageDecoder();
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;

  /// Decodes to `channels` (1 = gray, 3 = RGB) into `out`, reusing its buffer.
  Status decode(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out);

  /// Lets JPEG decoding scale in the DCT domain (libjpeg-turbo's scaling factors, 1/2 down to
  /// 1/8) when the spec's resize target is at most a quarter of the image: the decoder then
  /// produces the smallest image that is still twice the target, much faster than a full
  /// decode. nullptr (the default) always decodes at full size.
  void set_scaling_target(const PreprocessSpec* spec) { scaling_target_ = spec; }

 private:
  Status decode_jpeg(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out);
  Status decode_png(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out);
  Status check_dimensions(int width, int height) const;

  std::uint64_t max_pixels_;
  const PreprocessSpec* scaling_target_ = nullptr;
  struct TurboHandle;
  std::unique_ptr<TurboHandle> turbo_;
};

}  // namespace sluice::vision
