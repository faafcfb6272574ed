#include "vision/image_probe.h"

#include <cstring>

namespace sluice::vision {
namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint32_t be16(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 8) | p[1];
}

std::optional<ImageSize> probe_png(std::span<const std::uint8_t> b) {
  // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4).
  if (b.size() < 24 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) return std::nullopt;
  return ImageSize{be32(b.data() + 16), be32(b.data() + 20)};
}

std::optional<ImageSize> probe_jpeg(std::span<const std::uint8_t> b) {
  std::size_t pos = 2;  // after SOI
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) return std::nullopt;
    const std::uint8_t marker = b[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // no length
      pos += 2;
      continue;
    }
    const std::size_t length = be16(b.data() + pos + 2);
    // Start-of-frame markers C0..CF, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (pos + 9 > b.size()) return std::nullopt;
      return ImageSize{be16(b.data() + pos + 7), be16(b.data() + pos + 5)};
    }
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // end, or scan data before any frame header
    pos += 2 + length;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ImageSize> probe_image(std::span<const std::uint8_t> bytes) {
  static constexpr std::uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) return probe_png(bytes);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return probe_jpeg(bytes);
  return std::nullopt;
}

}  // namespace sluice::vision
