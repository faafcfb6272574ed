#include "redis/redis_url.h"

#include <charconv>

#include <fmt/format.h>

namespace sluice::redis {
namespace {
Status bad(std::string_view text, std::string_view why) {
  return Status(
      Code::kInvalidArgument,
      fmt::format("'{}' is not a Redis URL: {} (expected redis://[:password@]host[:port][/db])", text, why));
}

bool parse_int(std::string_view s, int min, int max, int& out) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) return false;
  out = v;
  return true;
}
}  // namespace

std::string RedisUrl::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("redis://{}{}{}:{}/{}", v6 ? "[" : "", host, v6 ? "]" : "", port, db);
}

Result<RedisUrl> parse_redis_url(std::string_view text) {
  RedisUrl url;
  std::string_view rest = text;
  if (rest.starts_with("redis://")) {
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return bad(text, "the scheme must be redis:// (TLS is not supported)");
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto creds = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const auto colon = creds.find(':');
    if (colon == std::string_view::npos) {
      url.password = std::string(creds);
    } else {
      url.username = std::string(creds.substr(0, colon));
      url.password = std::string(creds.substr(colon + 1));
    }
  }
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const auto db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, url.db)) return bad(text, "the database must be a number");
  }
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad(text, "an IPv6 address needs its closing ]");
    url.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (rest.starts_with(':'))
      port = rest.substr(1);
    else if (!rest.empty())
      return bad(text, "unexpected text after the address");
  } else {
    const auto colon = rest.find(':');
    url.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (url.host.empty()) return bad(text, "the host is missing");
  if (!port.empty() && !parse_int(port, 1, 65535, url.port)) return bad(text, "the port must be 1..65535");
  return url;
}

}  // namespace sluice::redis
