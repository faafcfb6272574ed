// What of a video URL may be shown: credentials never leave sluice (logs, metrics, result lines).
#pragma once

#include <string>
#include <string_view>

namespace sluice::video {

/// The URL without its credentials: the user:password@ of scheme://user:password@host/... is
/// removed, and the values of query keys that carry secrets (password, pass, pwd, passwd, token,
/// access_token, auth, key, api_key, apikey, secret, sig, signature, user, username) become
/// "REDACTED". A plain file path is returned as it is.
std::string redact_url(std::string_view url);

/// Replaces every credential of every scheme://user:password@ URL inside free text (FFmpeg's log
/// lines, error messages) with nothing.
std::string redact_text(std::string_view text);

/// True for scheme://... URLs (rtsp, udp, tcp, http, https, srt, rtmp, ...); false for file
/// paths, file: URLs and pipe:.
bool is_network_url(std::string_view url);

/// The last path segment of the redacted URL without its query ("clip.mp4", "cam"), the host
/// when the path is empty, "stdin" for "-" and pipe:0.
std::string url_basename(std::string_view url);

}  // namespace sluice::video
