// ImageDecoder: JPEG (libjpeg-turbo) and PNG (libpng) payloads to 8-bit gray or RGB pixels.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sluice/status.h"
#include "vision/decode_admission.h"
#include "vision/image.h"
#include "vision/png_reader.h"
#include "vision/preprocess.h"

namespace sluice::vision {

inline constexpr std::uint64_t kDefaultMaxPixels = 64ull << 20;  // 64 Mpixel

/// Both sides > 0 and below 2^31, and width x height <= max_pixels, or the rule that is broken
/// (--max-pixels). Takes a header's values as they are, before any arithmetic on them.
Status check_image_dimensions(std::int64_t width, std::int64_t height, std::uint64_t max_pixels);

/// Decodes as Pillow 9.4 opens an image and converts it with convert('RGB') (3 channels) or
/// convert('L') (1 channel), pixel for pixel: JPEG through libjpeg-turbo (the library Pillow
/// uses) with the same settings (ISLOW DCT, fancy upsampling), gray from colour by Pillow's L24
/// formula, CMYK by Pillow's inverted-CMYK rule; PNG as PngReader describes.
/// Not thread-safe: each executor owns one. The image's dimensions are read from its header and
/// checked against `max_pixels` before any pixel buffer is allocated (decompression bombs).
class ImageDecoder {
 public:
  explicit ImageDecoder(std::uint64_t max_pixels = kDefaultMaxPixels);
  ~ImageDecoder();
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;

  /// Decodes to `channels` (1 = gray, 3 = RGB) into `out`, reusing its buffer. `admission`, when
  /// given, is asked once the header is checked and before any buffer for the image is sized.
  Status decode(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out,
                DecodeAdmission* admission = nullptr);

  /// The bytes the last decode sized its own buffers to (output, conversion buffer, rows): at
  /// most the plan's `bytes`, which also counts the codec library's buffers.
  std::uint64_t last_buffer_bytes() const { return last_buffer_bytes_; }

  /// Opt-in speed for exactness: lets JPEG decoding scale in the DCT domain (libjpeg-turbo's
  /// scaling factors, 1/2 down to 1/8) when the spec's resize target is at most a quarter of the
  /// image. The decoder then produces the smallest image that is still twice the target, faster
  /// than a full decode, but its pixels are no longer Pillow's. nullptr (the default) always
  /// decodes at full size.
  void set_scaling_target(const PreprocessSpec* spec) { scaling_target_ = spec; }

 private:
  Status decode_jpeg(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out,
                     DecodeAdmission* admission);

  std::uint64_t max_pixels_;
  const PreprocessSpec* scaling_target_ = nullptr;
  struct TurboHandle;
  std::unique_ptr<TurboHandle> turbo_;
  PngReader png_;
  std::vector<std::uint8_t> converted_;  // a JPEG decoded to RGB or CMYK before Pillow's conversion
  std::uint64_t last_buffer_bytes_ = 0;
};

}  // namespace sluice::vision
