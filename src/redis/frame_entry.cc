#include "redis/frame_entry.h"

#include <charconv>

#include <fmt/format.h>

#include "redis/entry_id.h"

namespace sluice::redis {
namespace {
template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}
}  // namespace

std::optional<EntryId> EntryId::parse(std::string_view text) {
  EntryId id;
  const auto dash = text.find('-');
  if (!parse_number(text.substr(0, dash), id.ms)) return std::nullopt;
  if (dash != std::string_view::npos && !parse_number(text.substr(dash + 1), id.seq)) return std::nullopt;
  return id;
}

std::int64_t unix_micros_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void add_frame_fields(RedisCommand& xadd, const Frame& frame, std::int64_t received_unix_us) {
  xadd.add("stream").add(frame.stream);
  xadd.add("seq").add(frame.seq);
  xadd.add("name").add(frame.name);
  xadd.add("payload").add_borrowed(frame.payload.bytes());
  xadd.add("t").add_int(received_unix_us);
}

Result<FrameEntry> parse_frame_entry(const redisReply& entry,
                                     const std::shared_ptr<const redisReply>& owner) {
  const redisReply* id = reply_at(entry, 0);
  const redisReply* fields = reply_at(entry, 1);
  if (id == nullptr || id->type != REDIS_REPLY_STRING) {
    return Status(Code::kFraming, "a stream entry without an id");
  }
  FrameEntry out;
  out.id = std::string(reply_str(*id));
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY) {
    // A pending entry trimmed away comes back without fields (Redis < 7).
    return Status(Code::kFraming, fmt::format("entry {} has no fields (deleted?)", out.id));
  }
  bool has_stream = false, has_seq = false, has_payload = false;
  std::int64_t received_us = 0;
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    const auto key = reply_str(*fields->element[i]);
    const redisReply& value = *fields->element[i + 1];
    const auto text = reply_str(value);
    if (key == "stream") {
      has_stream = parse_number(text, out.frame.stream);
    } else if (key == "seq") {
      has_seq = parse_number(text, out.frame.seq);
    } else if (key == "name") {
      out.frame.name = std::string(text);
    } else if (key == "payload") {
      has_payload = true;
      out.frame.payload = Payload(owner, reinterpret_cast<const std::uint8_t*>(value.str),
                                  value.type == REDIS_REPLY_STRING ? value.len : 0);
    } else if (key == "t") {
      (void)parse_number(text, received_us);
    }
  }
  if (!has_stream || !has_seq || !has_payload) {
    return Status(
        Code::kFraming,
        fmt::format("entry {} is not a sluice frame (it needs stream, seq and payload fields)", out.id));
  }
  const auto now = Clock::now();
  const std::int64_t waited_us = received_us > 0 ? unix_micros_now() - received_us : 0;
  out.frame.arrival = waited_us > 0 ? now - std::chrono::microseconds(waited_us) : now;
  return out;
}

}  // namespace sluice::redis
