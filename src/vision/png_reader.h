// PngReader: PNG payloads to 8-bit gray or RGB pixels, as Pillow 9.4 opens them and then converts
// them with convert('L') or convert('RGB'). libpng's low-level API with only the transforms that
// match Pillow: palettes expanded to their RGB entries, 1/2/4-bit gray scaled to 8 bits, 16-bit
// samples reduced to their high byte; alpha and tRNS dropped, never composited; no gamma or
// colour-profile correction. A 16-bit gray image (Pillow mode "I") converts by clipping each value
// to 255, as Pillow's i2l/i2rgb do.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sluice/status.h"
#include "vision/decode_admission.h"
#include "vision/image.h"

namespace sluice::vision {

class PngReader {
 public:
  /// Decodes to `channels` (1 = Pillow's L, 3 = RGB) into `out`, reusing its buffer. The header's
  /// dimensions are checked against `max_pixels`, then `admission` (if any) is asked, before any
  /// pixel buffer is sized. Ancillary chunks Pillow's pixels do not depend on (text, ICC profiles,
  /// EXIF, suggested palettes) are skipped unread, and any other chunk libpng keeps is bounded.
  Status decode(std::span<const std::uint8_t> bytes, int channels, std::uint64_t max_pixels,
                DecodedImage& out, DecodeAdmission* admission = nullptr);

  /// The bytes the last decode sized its own buffers to (output, 16-bit or 4-channel rows, row
  /// pointers).
  std::uint64_t last_buffer_bytes() const { return last_buffer_bytes_; }

 private:
  std::vector<std::uint8_t> raw_;  // libpng's rows, when they still need a conversion
  std::vector<std::uint8_t*> rows_;
  std::uint64_t last_buffer_bytes_ = 0;
};

}  // namespace sluice::vision
