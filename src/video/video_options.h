// VideoOptions: the keys of a `video:URL?key=value&...` source (and of `sluice send` video
// inputs), split into sluice's own and the options passed to FFmpeg.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/status.h"

namespace sluice::video {

/// What a live source does with a new picture when its queue to the pipeline is full.
enum class DropPolicy {
  kNone,    // wait (back-pressure: right for files; for a camera, its packets pile up upstream)
  kOldest,  // discard the oldest queued picture: the pipeline sees the most recent ones
  kNewest,  // discard the new picture
};

const char* drop_policy_name(DropPolicy policy);

struct VideoOptions {
  /// For FFmpeg: as written, with %3F turned into '?'. May hold credentials: never log it.
  std::string url;
  /// redact_url(url): for names, logs, metrics and result lines.
  std::string display_url;
  double fps = 0;           // sample this many pictures per second of stream time; 0 = every picture
  std::uint64_t every = 1;  // keep every Nth decoded picture
  bool keyframes = false;   // decode key frames only (AVDISCARD_NONKEY)
  bool loop = false;        // files: start again at the end
  bool realtime = false;    // files: read at the native rate, as a camera would deliver
  bool prescale = true;     // convert large pictures at 1/2..1/8 size when the model's input is small
  bool live = false;        // shed load (drop) instead of back-pressure; reconnect on failure
  bool network = false;     // a network URL: reconnect with backoff when it fails or ends
  DropPolicy drop = DropPolicy::kNone;
  std::size_t queue = 2;  // pictures waiting between the decoder and the pipeline
  std::chrono::milliseconds reconnect_backoff{100};
  std::chrono::milliseconds reconnect_max_backoff{5000};
  std::uint32_t max_reconnects = 0;  // 0 = no limit
  /// Opening, or waiting for the next packet, longer than this fails the session.
  std::chrono::milliseconds stall_timeout{10000};
  std::string format;  // force this FFmpeg input format (e.g. mjpeg, mpegts); empty = probe
  /// Every other key, in order, for avformat_open_input and then avcodec_open2.
  std::vector<std::pair<std::string, std::string>> ffmpeg_options;
};

/// sluice's keys, for messages and --help.
inline constexpr std::string_view kVideoKeys =
    "fps, every, keyframes, loop, realtime, live, prescale, drop, queue, reconnect_backoff, "
    "reconnect_max_backoff, max_reconnects, stall_timeout, format";

/// Parses the keys of one video input. `target` is the URL as written in the option (a '?' of
/// the camera's own URL written %3F). `context` prefixes every message (it must not hold
/// credentials). A key that is neither sluice's nor any FFmpeg format, protocol or codec option
/// fails here and is named; what the opened input leaves unconsumed fails when it is opened.
Result<VideoOptions> parse_video_options(std::string_view target,
                                         const std::vector<std::pair<std::string, std::string>>& params,
                                         std::string_view context);

/// True when some FFmpeg demuxer, protocol or decoder knows an option of this name.
bool ffmpeg_knows_option(const std::string& key);

}  // namespace sluice::video
