// Which FFmpeg protocols a video source may open, from the kind of URL it was given: a local file
// opens files only, a network URL its own protocols only, so that a playlist or stream from the
// network cannot make FFmpeg read local files (file:, concat:, subfile:) or reach other services.
#pragma once

#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::video {

/// FFmpeg's protocol_whitelist for `url` ("file", "rtsp,rtp,srtp,udp,tcp,tls", ...); an error
/// naming the rule for a protocol no video source opens (concat:, subfile:, data:, ftp://, ...).
Result<std::string> protocol_whitelist(std::string_view url);

}  // namespace sluice::video
