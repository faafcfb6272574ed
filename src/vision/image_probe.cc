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
  ImageSize s;
  s.format = ImageFormat::kPng;
  s.width = be32(b.data() + 16);
  s.height = be32(b.data() + 20);
  return s;
}

// The frame header, and whether the whole image's coefficients are buffered: assumed when the
// first scan's header is not there to say otherwise.
std::optional<ImageSize> probe_jpeg(std::span<const std::uint8_t> b) {
  std::optional<ImageSize> frame;
  const auto without_scan = [&frame] {
    if (frame) frame->jpeg_whole_image_coefficients = true;
    return frame;
  };
  std::size_t pos = 2;  // after SOI
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xFF) return without_scan();
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
      if (frame) return without_scan();  // a second frame header: libjpeg refuses it
      if (pos + 10 > b.size()) return std::nullopt;
      ImageSize s;
      s.format = ImageFormat::kJpeg;
      s.height = be16(b.data() + pos + 5);
      s.width = be16(b.data() + pos + 7);
      s.components = b[pos + 9];
      // C2, C6, CA, CE: progressive frames, whose coefficients libjpeg keeps for the whole image.
      s.jpeg_whole_image_coefficients = (marker & 0x03) == 0x02;
      frame = s;
    } else if (marker == 0xDA) {  // the first scan's header: libjpeg buffers unless it holds every component
      if (pos + 5 > b.size()) return without_scan();
      if (frame && b[pos + 4] < frame->components) frame->jpeg_whole_image_coefficients = true;
      return frame;
    } else if (marker == 0xD9) {
      return without_scan();
    }
    pos += 2 + length;
  }
  return without_scan();
}

}  // namespace

std::optional<ImageSize> probe_image(std::span<const std::uint8_t> bytes) {
  static constexpr std::uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) return probe_png(bytes);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return probe_jpeg(bytes);
  return std::nullopt;
}

}  // namespace sluice::vision
