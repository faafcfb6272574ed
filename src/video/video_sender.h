// `sluice send` with video inputs: a file, a URL, or "-" (an MJPEG or other stream on stdin)
// with the keys fps, every, keyframes, realtime, format and FFmpeg's options. Sampled pictures
// leave in the seed's wire format as JPEG frames named "clip.mp4#000012".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/socket.h"
#include "producer/frame_sender.h"
#include "video/video_options.h"

namespace sluice::video {

struct VideoInput {
  std::string written;  // as given, credentials removed, for messages
  VideoOptions options;
};

/// A path `sluice send` reads as video: "-", a scheme://URL, or a file whose extension is a
/// video container (mp4, mkv, avi, ts, mov, webm, ...), optionally followed by ?key=value&...
bool is_video_input(std::string_view path);

/// Parses "clip.mp4?fps=5" (a '?' of the URL itself written %3F). The keys that only make sense
/// for a live source in serve (loop, live, drop, queue, reconnect_*) are refused.
Result<VideoInput> parse_video_input(std::string_view path);

struct VideoSendOptions {
  double rate = 0;        // frames per second per input; 0 = as fast as read
  std::size_t limit = 0;  // frames per input; 0 = all
  int jpeg_quality = 95;
  std::uint64_t max_pixels = 64ull << 20;
};

/// Sends each input on its own connection to `to` (each is one stream), in parallel, and ends
/// each with the end-of-stream record. Motion-JPEG pictures that are complete JPEG files are
/// sent as they are; others are decoded, converted to RGB and JPEG-encoded.
Result<producer::SendSummary> send_videos(const std::vector<VideoInput>& inputs, const net::Endpoint& to,
                                          const VideoSendOptions& options, producer::SendProgress& progress);

}  // namespace sluice::video
