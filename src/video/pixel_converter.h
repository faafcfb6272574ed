// PixelConverter: a decoded picture (any FFmpeg pixel format, e.g. YUV 4:2:0) to the interleaved
// RGB24 or GRAY8 pixels the preprocessing takes, at the picture's size or prescaled, with libswscale.
#pragma once

#include <cstdint>
#include <vector>

#include "sluice/frame.h"
#include "sluice/status.h"
#include "video/av_handles.h"

namespace sluice::video {

/// Not thread-safe: one per decoding thread. Keeps its SwsContext while the input format stays.
class PixelConverter {
 public:
  /// `format`: PixelFormat::kRgb24 or PixelFormat::kGray8.
  explicit PixelConverter(PixelFormat format) : format_(format) {}

  /// Converts `frame` into `out` at `width` x `height` (the frame's own size, or smaller: area
  /// averaging), `out` resized to width x height x channels without row padding (its capacity holds
  /// one row and a little more), using the frame's colour matrix and range (BT.601 limited range
  /// when it does not say).
  Status convert(const AVFrame& frame, int width, int height, std::vector<std::uint8_t>& out);
  /// The same at the frame's own size.
  Status convert(const AVFrame& frame, std::vector<std::uint8_t>& out) {
    return convert(frame, frame.width, frame.height, out);
  }

  PixelFormat format() const { return format_; }

 private:
  PixelFormat format_;
  SwsPtr sws_;
};

}  // namespace sluice::video
