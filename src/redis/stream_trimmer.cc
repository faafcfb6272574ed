#include "redis/stream_trimmer.h"

#include <fmt/format.h>

namespace sluice::redis {

Result<std::optional<EntryId>> processed_below(RedisConnection& conn, const std::string& key) {
  RedisCommand info("XINFO");
  info.add("GROUPS").add(key);
  auto groups = conn.run(info);
  if (!groups) return groups.status();
  if (reply_is_error(**groups)) {
    if (reply_str(**groups).find("no such key") != std::string_view::npos) return std::optional<EntryId>{};
    return reply_status(**groups, "XINFO GROUPS " + key);
  }
  std::optional<EntryId> safe;
  std::vector<RedisCommand> pending;
  std::vector<EntryId> delivered;
  for (std::size_t g = 0; g < (*groups)->elements; ++g) {
    const redisReply& group = *(*groups)->element[g];
    const redisReply* name = reply_field(group, "name");
    const redisReply* last = reply_field(group, "last-delivered-id");
    const redisReply* count = reply_field(group, "pending");
    if (name == nullptr || last == nullptr || count == nullptr) continue;
    const auto last_id = EntryId::parse(reply_str(*last));
    if (!last_id) continue;
    if (reply_integer(*count).value_or(0) == 0) {
      safe = safe ? std::min(*safe, *last_id) : *last_id;
    } else {
      pending.emplace_back("XPENDING").add(key).add(reply_str(*name));
    }
  }
  auto summaries = conn.pipeline(pending);
  if (!summaries) return summaries.status();
  for (const auto& s : *summaries) {
    // [count, smallest id, greatest id, consumers]
    const redisReply* smallest = reply_at(*s, 1);
    const auto id = smallest ? EntryId::parse(reply_str(*smallest)) : std::nullopt;
    if (!id) return std::optional<EntryId>{};  // a group changed under us: trim next time
    safe = safe ? std::min(*safe, *id) : *id;
  }
  return safe;
}

Result<long long> trim_processed(RedisConnection& conn, const std::string& key) {
  auto safe = processed_below(conn, key);
  if (!safe) return safe.status();
  if (!*safe) return 0LL;
  RedisCommand trim("XTRIM");
  trim.add(key).add("MINID").add("~").add((*safe)->to_string());
  auto reply = conn.run(trim);
  if (!reply) return reply.status();
  if (auto st = reply_status(**reply, "XTRIM " + key); !st) return st;
  return reply_integer(**reply).value_or(0);
}

}  // namespace sluice::redis
