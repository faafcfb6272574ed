// StreamTrimmer: deletes frame entries that every consumer group has processed (XTRIM MINID).
#pragma once

#include <optional>
#include <string>

#include "redis/entry_id.h"
#include "redis/redis_connection.h"

namespace sluice::redis {

/// Safe point of a stream: the smallest id any consumer group may still need, that is per group
/// its oldest pending entry, or (nothing pending) its last delivered entry; the minimum over the
/// groups. Entries below it are done everywhere. nullopt when the stream has no group (nothing is
/// processed yet) or does not exist.
Result<std::optional<EntryId>> processed_below(RedisConnection& conn, const std::string& key);

/// XTRIM key MINID ~ <safe point>: frees the memory of processed frames, so the stream holds
/// little more than the frames still waiting. Returns the number of entries deleted.
Result<long long> trim_processed(RedisConnection& conn, const std::string& key);

}  // namespace sluice::redis
