#include "video/av_handles.h"

extern "C" {
#include <libavutil/error.h>
}

namespace sluice::video {

std::string av_error_text(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(code, buffer, sizeof buffer) < 0) return "FFmpeg error " + std::to_string(code);
  return buffer;
}

}  // namespace sluice::video
