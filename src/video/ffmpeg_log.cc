#include "video/ffmpeg_log.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/log.h>
}

#include "video/url_redaction.h"

namespace sluice::video {
namespace {

void log_callback(void* avcl, int level, const char* fmt, va_list args) {
  if (level > AV_LOG_VERBOSE || !spdlog::should_log(spdlog::level::debug)) return;
  char line[1024];
  int prefix = 1;
  av_log_format_line2(avcl, level, fmt, args, line, sizeof line, &prefix);
  std::string text = redact_text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) spdlog::debug("ffmpeg: {}", text);
}

}  // namespace

void route_ffmpeg_log() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

}  // namespace sluice::video
