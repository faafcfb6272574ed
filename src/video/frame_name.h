// Frame names for video frames: "clip.mp4#000012" (the source's base name, '#', the index of the
// decoded picture), short enough for the wire format's 28-byte name field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::video {

/// `base` is cut (never the index) so the name fits `max_bytes`.
std::string video_frame_name(std::string_view base, std::uint64_t index, std::size_t max_bytes = 28);

}  // namespace sluice::video
