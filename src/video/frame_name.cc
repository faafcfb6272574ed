#include "video/frame_name.h"

#include <fmt/format.h>

namespace sluice::video {

std::string video_frame_name(std::string_view base, std::uint64_t index, std::size_t max_bytes) {
  const std::string suffix = fmt::format("#{:06}", index);
  if (suffix.size() >= max_bytes) return suffix.substr(suffix.size() - max_bytes);
  std::string name(base.substr(0, max_bytes - suffix.size()));
  // Never end on half a UTF-8 sequence: drop continuation bytes and the lead byte they follow.
  if (name.size() < base.size()) {
    while (!name.empty() && (static_cast<unsigned char>(name.back()) & 0xC0) == 0x80) name.pop_back();
    if (!name.empty() && (static_cast<unsigned char>(name.back()) & 0x80) != 0) name.pop_back();
  }
  return name + suffix;
}

}  // namespace sluice::video
