// FFmpeg's log, routed into sluice's: its lines (which can quote a URL with credentials) go to
// spdlog at debug level, with credentials removed. sluice logs its own line per event.
#pragma once

namespace sluice::video {

/// Installs the callback once per process; later calls do nothing.
void route_ffmpeg_log();

}  // namespace sluice::video
