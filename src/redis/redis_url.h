// RedisUrl: where a Redis server is, parsed from redis://[[user]:password@]host[:port][/db].
#pragma once

#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::redis {

struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;            // SELECTed after connecting when not 0 (Redis Cluster has only db 0)
  std::string username;  // empty: AUTH with the password alone (the "default" user)
  std::string password;  // empty: no AUTH

  /// "redis://host:port/db", without the credentials (for logs).
  std::string to_string() const;
};

/// Parses "redis://host:port/db" (the scheme, the port, the db and the credentials are optional;
/// "[::1]:6379" for IPv6). The error names what is wrong.
Result<RedisUrl> parse_redis_url(std::string_view text);

}  // namespace sluice::redis
