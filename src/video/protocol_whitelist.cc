#include "video/protocol_whitelist.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace sluice::video {
namespace {

// Scheme -> the protocols its input may open (nested ones included: RTSP's RTP over UDP, TLS
// under HTTPS, HLS keys through crypto).
constexpr std::pair<std::string_view, std::string_view> kAllowed[] = {
    {"file", "file"},
    {"pipe", "pipe"},
    {"rtsp", "rtsp,rtsps,rtp,srtp,udp,tcp,tls,http,https"},
    {"rtsps", "rtsp,rtsps,rtp,srtp,udp,tcp,tls"},
    {"http", "http,https,tcp,tls,crypto"},
    {"https", "http,https,tcp,tls,crypto"},
    {"udp", "udp"},
    {"rtp", "rtp,udp"},
    {"tcp", "tcp"},
    {"srt", "srt"},
    {"rtmp", "rtmp,rtmps,tcp,tls"},
    {"rtmps", "rtmp,rtmps,tcp,tls"},
};

// The scheme of "scheme://..." or "scheme:..." (FFmpeg's concat:, subfile:, pipe:), lowercased;
// "" for a plain path.
std::string scheme_of(std::string_view url) {
  std::size_t i = 0;
  while (i < url.size() && (std::isalnum(static_cast<unsigned char>(url[i])) || url[i] == '+' ||
                            url[i] == '-' || url[i] == '.')) {
    ++i;
  }
  // One letter before ':' would be a drive letter; FFmpeg's own protocols are longer.
  if (i < 2 || i >= url.size() || url[i] != ':' || !std::isalpha(static_cast<unsigned char>(url[0])))
    return {};
  std::string scheme(url.substr(0, i));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return scheme;
}

}  // namespace

Result<std::string> protocol_whitelist(std::string_view url) {
  const std::string scheme = scheme_of(url);
  if (scheme.empty()) return std::string("file");
  for (const auto& [name, protocols] : kAllowed) {
    if (scheme == name) return std::string(protocols);
  }
  return Status(Code::kInvalidArgument,
                fmt::format("protocol '{}' is not opened by video sources (rule: video:URL takes a file, "
                            "rtsp(s)://, http(s)://, udp://, rtp://, tcp://, srt:// or rtmp(s)://; concat:, "
                            "subfile:, data: and the like would let an input read other files)",
                            scheme));
}

}  // namespace sluice::video
