#include "video/url_redaction.h"

#include <algorithm>
#include <cctype>
#include <iterator>

namespace sluice::video {
namespace {

constexpr std::string_view kSecretKeys[] = {"password",
                                            "passwd",
                                            "pass",
                                            "pwd",
                                            "token",
                                            "access_token",
                                            "auth",
                                            "key",
                                            "apikey",
                                            "api_key",
                                            "api-key",
                                            "access_key",
                                            "accesskey",
                                            "private_key",
                                            "secret",
                                            "signature",
                                            "sig",
                                            "credential",
                                            "user",
                                            "username",
                                            "session",
                                            "sessionid",
                                            "x-amz-signature",
                                            "x-amz-credential",
                                            "x-amz-security-token",
                                            "x-goog-signature",
                                            "x-goog-credential"};
// Keys that contain one of these are secrets too (client_secret, refresh_token, X-Auth-Key, ...).
constexpr std::string_view kSecretParts[] = {"pass", "token", "secret", "signature", "credential", "auth"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// The byte at `at` as the URL means it: "%3F" is '?', "%26" '&', "%3D" '=', "%3B" ';'. Sets
// `width` to how many bytes it takes.
char meaning_at(std::string_view url, std::size_t at, std::size_t& width) {
  width = 1;
  if (url[at] != '%' || at + 2 >= url.size()) return url[at];
  const int hi = hex_value(url[at + 1]), lo = hex_value(url[at + 2]);
  if (hi < 0 || lo < 0) return url[at];
  const char c = static_cast<char>(hi * 16 + lo);
  if (c == '?' || c == '&' || c == '=' || c == ';') {
    width = 3;
    return c;
  }
  return url[at];
}

// Where a URL that starts at `begin` ends inside free text.
std::size_t url_end(std::string_view text, std::size_t begin) {
  std::size_t end = begin;
  while (end < text.size()) {
    const char c = text[end];
    if (std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' || c == '>' ||
        c == '`')
      break;
    ++end;
  }
  return end;
}

// Length of the scheme before "://" at `at`, or 0 when there is none.
std::size_t scheme_before(std::string_view text, std::size_t at) {
  std::size_t begin = at;
  while (begin > 0) {
    const char c = text[begin - 1];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.') {
      --begin;
    } else {
      break;
    }
  }
  return at - begin;
}

// The query part of one URL (after its first '?' or %3F), with secret values replaced.
void redact_query(std::string_view query, std::string& out) {
  std::size_t i = 0;
  while (i < query.size()) {
    // One item: key[=value], up to the next separator.
    const std::size_t key_begin = i;
    std::size_t width = 1;
    std::size_t eq = std::string_view::npos;
    std::size_t end = i;
    while (end < query.size()) {
      const char c = meaning_at(query, end, width);
      if (c == '&' || c == ';' || c == '?' || c == '#') break;
      if (c == '=' && eq == std::string_view::npos) eq = end;
      end += width;
    }
    if (eq != std::string_view::npos &&
        is_secret_key(percent_decoded(query.substr(key_begin, eq - key_begin)))) {
      std::size_t eq_width = 1;
      meaning_at(query, eq, eq_width);
      out.append(query.substr(key_begin, eq + eq_width - key_begin));
      if (eq + eq_width < end) out.append(kRedacted);
    } else {
      out.append(query.substr(key_begin, end - key_begin));
    }
    if (end >= query.size()) break;
    meaning_at(query, end, width);
    if (query[end] == '#') {
      out.append(query.substr(end));  // a fragment is not sent, and carries no query
      return;
    }
    out.append(query.substr(end, width));
    i = end + width;
  }
}

// One URL: scheme://[userinfo@]authority[/path][?query].
void redact_one_url(std::string_view url, std::size_t authority, UserInfo user_info, std::string& out) {
  out.append(url.substr(0, authority));
  std::size_t end = authority;
  std::size_t width = 1;
  while (end < url.size()) {
    const char c = meaning_at(url, end, width);
    if (c == '/' || c == '?' || c == '#') break;
    end += width;
  }
  const auto host = url.substr(authority, end - authority);
  if (const auto at = host.rfind('@'); at != std::string_view::npos) {
    if (user_info == UserInfo::kMask) out.append(kRedacted).append("@");
    out.append(host.substr(at + 1));
  } else {
    out.append(host);
  }
  std::size_t q = end;
  while (q < url.size()) {
    const char c = meaning_at(url, q, width);
    if (c == '?' || c == '#') break;
    q += width;
  }
  out.append(url.substr(end, q - end));
  if (q >= url.size()) return;
  meaning_at(url, q, width);
  out.append(url.substr(q, width));
  if (url[q] == '#') {
    out.append(url.substr(q + 1));
    return;
  }
  redact_query(url.substr(q + width), out);
}

}  // namespace

bool is_secret_key(std::string_view key) {
  const std::string k = lower(key);
  if (std::find(std::begin(kSecretKeys), std::end(kSecretKeys), k) != std::end(kSecretKeys)) return true;
  return std::any_of(std::begin(kSecretParts), std::end(kSecretParts),
                     [&](std::string_view part) { return k.find(part) != std::string::npos; });
}

std::string redact_text(std::string_view text, UserInfo user_info) {
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto sep = text.find("://", pos);
    if (sep == std::string_view::npos) break;
    const std::size_t scheme = scheme_before(text, sep);
    if (scheme == 0 || sep - scheme < pos) {
      out.append(text.substr(pos, sep + 3 - pos));
      pos = sep + 3;
      continue;
    }
    const std::size_t begin = sep - scheme;
    out.append(text.substr(pos, begin - pos));
    const std::size_t end = url_end(text, begin);
    redact_one_url(text.substr(begin, end - begin), scheme + 3, user_info, out);
    pos = end;
  }
  if (pos < text.size()) out.append(text.substr(pos));
  return out;
}

std::string redact_url(std::string_view url, UserInfo user_info) {
  return redact_text(url, user_info);
}

bool is_network_url(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos || scheme_before(url, sep) != sep) return false;
  return lower(url.substr(0, sep)) != "file";
}

std::string url_basename(std::string_view url) {
  if (url == "-" || url == "pipe:" || url == "pipe:0") return "stdin";
  const std::string clean = redact_url(url);
  std::string_view path = clean;
  path = path.substr(0, path.find('?'));
  std::string_view host;
  if (const auto sep = path.find("://"); sep != std::string_view::npos) {
    path = path.substr(sep + 3);
    const auto slash = path.find('/');
    host = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  const auto base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (!base.empty()) return std::string(base);
  return host.empty() ? std::string("video") : std::string(host);
}

}  // namespace sluice::video
