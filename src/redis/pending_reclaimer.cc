#include "redis/pending_reclaimer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::redis {

PendingReclaimer::PendingReclaimer(ReclaimOptions options)
    : options_(std::move(options)), cursors_(static_cast<std::size_t>(options_.layout.partitions), "0-0") {}

Result<ReclaimRound> PendingReclaimer::reclaim(int p, RedisConnection& conn) {
  const std::string key = options_.layout.frames_key(p);
  auto& cursor = cursors_[static_cast<std::size_t>(p)];
  RedisCommand claim("XAUTOCLAIM");
  claim.add(key).add(options_.group).add(options_.consumer);
  claim.add(static_cast<std::uint64_t>(options_.claim_idle.count())).add(cursor);
  claim.add("COUNT").add(static_cast<std::uint64_t>(options_.claim_count));
  auto reply = conn.run(claim);
  if (!reply) return reply.status();
  if (auto st = reply_status(**reply, "XAUTOCLAIM " + key); !st) return st;
  // Shared: claimed payloads point into this reply.
  std::shared_ptr<const redisReply> owner(std::move(*reply));
  const redisReply* next = reply_at(*owner, 0);
  const redisReply* entries = reply_at(*owner, 1);
  if (next == nullptr || entries == nullptr || entries->type != REDIS_REPLY_ARRAY) {
    return Status(Code::kIo, fmt::format("XAUTOCLAIM {}: unexpected reply shape", key));
  }
  cursor = std::string(reply_str(*next));
  ReclaimRound round;
  if (const redisReply* deleted = reply_at(*owner, 2); deleted != nullptr && deleted->elements > 0) {
    round.deleted = deleted->elements;
    spdlog::error(
        "{}: {} pending entries were trimmed away before they were processed (lost); keep --max-stream-length "
        "below --stream-maxlen",
        key, round.deleted);
  }
  if (entries->elements == 0) return round;

  std::vector<ClaimedFrame> claimed;
  RedisCommand drop("XACK");  // entries that are not sluice frames: nothing to process
  drop.add(key).add(options_.group);
  for (std::size_t i = 0; i < entries->elements; ++i) {
    auto parsed = parse_frame_entry(*entries->element[i], owner);
    if (!parsed) {
      spdlog::error("{}: {}; acknowledged and skipped", key, parsed.status().to_string());
      if (const redisReply* id = reply_at(*entries->element[i], 0)) drop.add(reply_str(*id));
      continue;
    }
    claimed.push_back(ClaimedFrame{p, std::move(*parsed), 0, false});
  }
  if (drop.argc() > 3) {
    if (auto r = conn.run(drop); !r) return r.status();
  }
  // The delivery counts, XAUTOCLAIM's own increment included.
  std::vector<RedisCommand> pending;
  for (const auto& c : claimed) {
    pending.emplace_back("XPENDING").add(key).add(options_.group).add(c.entry.id).add(c.entry.id).add(std::uint64_t{1});
  }
  auto counts = conn.pipeline(pending);
  if (!counts) return counts.status();
  std::vector<ClaimedFrame> dead;
  for (std::size_t i = 0; i < claimed.size(); ++i) {
    const redisReply* row = reply_at(*(*counts)[i], 0);
    const redisReply* count = row ? reply_at(*row, 3) : nullptr;
    if (count == nullptr) continue;  // acknowledged meanwhile (by a worker that was alive after all)
    auto& c = claimed[i];
    c.deliveries = static_cast<int>(reply_integer(*count).value_or(1));
    if (c.deliveries > options_.max_deliveries) {
      dead.push_back(std::move(c));
      continue;
    }
    c.isolate = c.deliveries > options_.isolate_after;
    round.frames.push_back(std::move(c));
  }
  if (!dead.empty()) {
    if (auto st = dead_letter(p, conn, dead); !st) return st;
    round.dead_lettered = dead.size();
  }
  return round;
}

Status PendingReclaimer::dead_letter(int p, RedisConnection& conn, const std::vector<ClaimedFrame>& frames) {
  const auto& layout = options_.layout;
  std::vector<RedisCommand> commands;
  commands.emplace_back("MULTI");
  RedisCommand xack("XACK");
  xack.add(layout.frames_key(p)).add(options_.group);
  for (const auto& c : frames) {
    const auto& f = c.entry.frame;
    const std::string reason = fmt::format(
        "delivered {} times without a result: each worker that took it stopped before writing its result "
        "(a crash, a kill, or a stall longer than --claim-idle); --max-deliveries is {}",
        c.deliveries - 1, options_.max_deliveries);
    auto& xadd = commands.emplace_back("XADD");
    xadd.add(layout.dead_key(p));
    if (options_.dead_maxlen > 0) xadd.add("MAXLEN").add("~").add(static_cast<std::uint64_t>(options_.dead_maxlen));
    xadd.add("*").add("stream").add(f.stream).add("seq").add(f.seq).add("name").add(f.name);
    xadd.add("entry").add(c.entry.id).add("deliveries").add(static_cast<std::uint64_t>(c.deliveries - 1));
    xadd.add("reason").add(reason).add("payload").add_borrowed(f.payload.bytes());
    xack.add(c.entry.id);
    spdlog::warn("{}: frame '{}' (stream {}, seq {}, entry {}) goes to the dead-letter stream {}: {}",
                 layout.frames_key(p), f.name, f.stream, f.seq, c.entry.id, layout.dead_key(p), reason);
  }
  commands.push_back(std::move(xack));
  commands.emplace_back("EXEC");
  auto replies = conn.pipeline(commands);
  if (!replies) return replies.status();
  const redisReply& exec = *replies->back();
  if (exec.type != REDIS_REPLY_ARRAY) {
    for (const auto& r : *replies) {
      if (reply_is_error(*r)) return reply_status(*r, "dead-lettering");
    }
    return Status(Code::kIo, "dead-lettering: the transaction was aborted");
  }
  return Status::ok();
}

}  // namespace sluice::redis
