#include "video/url_redaction.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace sluice::video {
namespace {

constexpr std::array<std::string_view, 15> kSecretKeys = {
    "password", "pass",   "pwd",    "passwd", "token", "access_token", "auth",    "key",
    "api_key",  "apikey", "secret", "sig",    "user",  "signature",    "username"};

bool is_secret_key(std::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(kSecretKeys.begin(), kSecretKeys.end(), lower) != kSecretKeys.end();
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

}  // namespace

std::string redact_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (true) {
    const auto sep = text.find("://", pos);
    if (sep == std::string_view::npos || scheme_before(text, sep) == 0) {
      if (sep == std::string_view::npos) break;
      out.append(text.substr(pos, sep + 3 - pos));
      pos = sep + 3;
      continue;
    }
    const std::size_t authority = sep + 3;
    out.append(text.substr(pos, authority - pos));
    std::size_t end = authority;
    while (end < text.size() && text[end] != '/' && text[end] != '?' && text[end] != '#' &&
           !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != '"' && text[end] != '\'') {
      ++end;
    }
    const auto host = text.substr(authority, end - authority);
    const auto at = host.rfind('@');
    out.append(at == std::string_view::npos ? host : host.substr(at + 1));
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

std::string redact_url(std::string_view url) {
  std::string out = redact_text(url);
  const auto query = out.find('?');
  if (query == std::string::npos || out.find("://") == std::string::npos) return out;
  std::string redacted = out.substr(0, query + 1);
  std::string_view rest = std::string_view(out).substr(query + 1);
  bool first = true;
  while (true) {
    const auto amp = rest.find('&');
    const auto item = rest.substr(0, amp);
    if (!first) redacted += '&';
    first = false;
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && is_secret_key(item.substr(0, eq))) {
      redacted.append(item.substr(0, eq + 1));
      redacted += "REDACTED";
    } else {
      redacted.append(item);
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return redacted;
}

bool is_network_url(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos || scheme_before(url, sep) != sep) return false;
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return scheme != "file";
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
