#include "video/ffmpeg_log.h"

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/log.h>
}

#include "util/log_throttle.h"
#include "video/url_redaction.h"

namespace sluice::video {
namespace {

// An input that asked for a protocol outside its source's protocol_whitelist (a playlist naming
// file: URLs): the one FFmpeg line operators must see, at most once a second.
bool whitelist_refusal(const char* fmt) {
  if (fmt == nullptr || std::strstr(fmt, "not on whitelist") == nullptr) return false;
  static LogThrottle throttle;
  return throttle.admit().has_value();
}

void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  const bool refused = whitelist_refusal(fmt);
  if (!refused && (level > AV_LOG_VERBOSE || !spdlog::should_log(spdlog::level::debug))) return;
  char line[1024];
  int prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof line, &prefix);
  std::string text = redact_text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  if (refused) {
    spdlog::warn(
        "video: FFmpeg refused to open a URL the input named: {} (rule: a video source opens only the "
        "protocols of its own kind; a network input cannot reach local files)",
        text);
  } else {
    spdlog::debug("ffmpeg: {}", text);
  }
}

}  // namespace

void route_ffmpeg_log() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

}  // namespace sluice::video
