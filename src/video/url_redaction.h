// What of a URL may be shown: credentials never leave sluice (logs, metrics labels, /api/status,
// the dashboard, result lines, `config --print`).
#pragma once

#include <string>
#include <string_view>

namespace sluice::video {

/// What replaces a secret.
inline constexpr std::string_view kRedacted = "***";

/// What becomes of scheme://user:password@host: removed (scheme://host, for names, logs, metrics
/// and result lines), or masked (scheme://***@host, where the reader must put it back: config --print).
enum class UserInfo { kRemove, kMask };

/// `text` with the secrets of every scheme://... URL in it hidden: the userinfo (in any scheme,
/// see UserInfo), and the values ("***") of query keys that look secret (password, pass, pwd, token, auth,
/// key, secret, sig, signature, credential, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, user,
/// ...; any case, and keys that contain pass, token, secret, signature, credential or auth). A query starts
/// at '?' or at its encoded form %3F (a camera URL's own query inside a video source); items end at '&',
/// ';', '?' or their %-encodings, and keys are compared percent-decoded. Text outside URLs, and
/// file paths, are returned as they are.
std::string redact_text(std::string_view text, UserInfo user_info = UserInfo::kRemove);

/// The same as redact_text, for one URL or source spec ("video:rtsp://...?fps=2").
std::string redact_url(std::string_view url, UserInfo user_info = UserInfo::kRemove);

/// True when a query key names a secret (as redact_text decides).
bool is_secret_key(std::string_view key);

/// True for scheme://... URLs (rtsp, udp, tcp, http, https, srt, rtmp, ...); false for file
/// paths, file: URLs and pipe:.
bool is_network_url(std::string_view url);

/// The last path segment of the redacted URL without its query ("clip.mp4", "cam"), the host
/// when the path is empty, "stdin" for "-" and pipe:0.
std::string url_basename(std::string_view url);

}  // namespace sluice::video
