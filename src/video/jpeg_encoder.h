// JpegEncoder: interleaved RGB24 or GRAY8 pixels to a JPEG file, with TurboJPEG. `sluice send`
// sends sampled video pictures this way, as the seed's wire format carries encoded images.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sluice/status.h"

namespace sluice::video {

/// Not thread-safe: one per sending thread.
class JpegEncoder {
 public:
  explicit JpegEncoder(int quality = 95);
  ~JpegEncoder();
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;

  /// Encodes width x height pixels of `channels` (3 = RGB, 1 = gray) into `out` (replaced).
  /// Colour pictures use 4:2:0 chroma subsampling, as video does.
  Status encode(std::span<const std::uint8_t> pixels, int width, int height, int channels,
                std::vector<std::uint8_t>& out);

 private:
  int quality_;
  struct Handle;
  std::unique_ptr<Handle> handle_;
};

/// True when `bytes` is a JPEG file a plain JPEG decoder reads: it starts with SOI and defines
/// its Huffman tables (DHT) before the scan. Motion-JPEG from some cameras leaves them out and
/// relies on the standard tables, which libjpeg-turbo does not assume.
bool is_complete_jpeg(std::span<const std::uint8_t> bytes);

}  // namespace sluice::video
