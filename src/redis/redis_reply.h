// RedisReply: an owned hiredis reply, freed with its children when it goes out of scope.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::redis {

struct ReplyDeleter {
  void operator()(redisReply* reply) const {
    if (reply != nullptr) freeReplyObject(reply);
  }
};
/// The top-level reply of one command. Children (reply->element[i]) are owned by it.
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

/// The bytes of a string, status or error reply (binary-safe); empty for other types.
inline std::string_view reply_str(const redisReply& r) {
  if (r.type == REDIS_REPLY_STRING || r.type == REDIS_REPLY_STATUS || r.type == REDIS_REPLY_ERROR) {
    return {r.str, r.len};
  }
  return {};
}

inline bool reply_is_error(const redisReply& r) {
  return r.type == REDIS_REPLY_ERROR;
}

/// Element `i` of an array reply, or nullptr when `r` is not an array or is too short.
inline const redisReply* reply_at(const redisReply& r, std::size_t i) {
  return r.type == REDIS_REPLY_ARRAY && i < r.elements ? r.element[i] : nullptr;
}

/// An integer reply, or a string reply that holds a decimal integer.
std::optional<long long> reply_integer(const redisReply& r);

/// Ok unless `r` is an error reply; then kIo with "<what>: <Redis error text>".
Status reply_status(const redisReply& r, std::string_view what);

/// The value of `key` in a reply that is a flat [key, value, key, value, ...] array (XINFO, HGETALL).
const redisReply* reply_field(const redisReply& r, std::string_view key);

}  // namespace sluice::redis
