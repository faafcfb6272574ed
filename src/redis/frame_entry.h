// Frame entries: how a frame is stored as a Redis stream entry, and read back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "redis/redis_command.h"
#include "redis/redis_reply.h"
#include "sluice/frame.h"

namespace sluice::redis {

/// An entry's fields: stream, seq (decimal), name (raw bytes), payload (raw bytes, borrowed by
/// the command) and t, the ingest node's wall clock at receipt in Unix microseconds (latency is
/// measured from it, so node clocks should be NTP-synchronised).
void add_frame_fields(RedisCommand& xadd, const Frame& frame, std::int64_t received_unix_us);

/// A frame read back from a stream, with its entry id.
struct FrameEntry {
  std::string id;
  Frame frame;
};

/// Parses one entry of an XREADGROUP/XAUTOCLAIM reply ([id, [field, value, ...]]). The payload
/// is not copied: it points into the reply, which `owner` keeps alive (it must own `entry`).
/// The arrival time is set from t, so latency counts the time spent in Redis.
Result<FrameEntry> parse_frame_entry(const redisReply& entry, const std::shared_ptr<const redisReply>& owner);

/// Now, as Unix microseconds.
std::int64_t unix_micros_now();

}  // namespace sluice::redis
