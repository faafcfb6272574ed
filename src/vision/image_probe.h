// probe_image: an image's dimensions from its header, without decoding it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace sluice::vision {

struct ImageSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

/// The dimensions a JPEG (SOF marker) or PNG (IHDR) header claims; nothing for anything else or
/// a header that cannot be read (the decoder then reports why). Reads only the header.
std::optional<ImageSize> probe_image(std::span<const std::uint8_t> bytes);

}  // namespace sluice::vision
