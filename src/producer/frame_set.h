// FrameSet: the frames a producer sends, loaded from files, directories or an IDX image file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sluice/status.h"

namespace sluice::producer {

struct OutgoingFrame {
  std::string name;  // at most 28 bytes
  std::vector<std::uint8_t> payload;
};

struct FrameSet {
  std::vector<OutgoingFrame> frames;
  std::uint64_t bytes() const;
};

/// Loads each path: a directory contributes its .jpg/.jpeg/.png files in name order; an IDX
/// image file contributes every image as a PNG named by its index ("0", "1", ...); any other file
/// is sent as it is, named by its file name (cut to 28 bytes). `limit` caps the count (0 = all).
Result<FrameSet> load_frame_set(const std::vector<std::string>& paths, std::size_t limit = 0);

/// Encodes the images of an IDX file as PNG frames named by index.
Result<FrameSet> load_idx_frames(const std::string& path, std::size_t limit = 0);

}  // namespace sluice::producer
