#include "redis/pending_reclaimer.h"

#include <unordered_map>

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
  claim.add("COUNT").add(static_cast<std::uint64_t>(options_.claim_count)).add("JUSTID");
  auto reply = conn.run(claim);
  if (!reply) return reply.status();
  if (auto st = reply_status(**reply, "XAUTOCLAIM " + key); !st) return st;
  const redisReply* next = reply_at(**reply, 0);
  const redisReply* ids = reply_at(**reply, 1);
  if (next == nullptr || ids == nullptr || ids->type != REDIS_REPLY_ARRAY) {
    return Status(Code::kIo, fmt::format("XAUTOCLAIM {}: unexpected reply shape", key));
  }
  cursor = std::string(reply_str(*next));
  ReclaimRound round;
  if (const redisReply* deleted = reply_at(**reply, 2); deleted != nullptr && deleted->elements > 0) {
    round.deleted = deleted->elements;
    spdlog::error(
        "{}: {} pending entries were trimmed away before they were processed (lost); keep "
        "--max-stream-length "
        "below --stream-maxlen",
        key, round.deleted);
  }
  if (ids->elements == 0) return round;

  // How often each was handed to processing before (JUSTID left the counts as they were).
  std::vector<RedisCommand> pending;
  for (std::size_t i = 0; i < ids->elements; ++i) {
    const auto id = reply_str(*ids->element[i]);
    pending.emplace_back("XPENDING").add(key).add(options_.group).add(id).add(id).add(std::uint64_t{1});
  }
  auto counts = conn.pipeline(pending);
  if (!counts) return counts.status();
  std::vector<std::string> now_ids, dead_ids;
  std::vector<int> now_failed, dead_failed;
  for (std::size_t i = 0; i < ids->elements; ++i) {
    const redisReply* row = reply_at(*(*counts)[i], 0);
    const redisReply* count = row ? reply_at(*row, 3) : nullptr;
    if (count == nullptr) continue;  // acknowledged meanwhile (by a worker that was alive after all)
    std::string id(reply_str(*ids->element[i]));
    const int failed = static_cast<int>(reply_integer(*count).value_or(0));
    if (failed >= options_.max_deliveries) {
      dead_ids.push_back(std::move(id));
      dead_failed.push_back(failed);
    } else if (failed >= options_.isolate_after) {
      round.suspects.push_back(Suspect{p, std::move(id), failed});
    } else {
      now_ids.push_back(std::move(id));
      now_failed.push_back(failed);
    }
  }
  if (!dead_ids.empty()) {
    auto entries = claim_content(p, conn, dead_ids);
    if (!entries) return entries.status();
    std::vector<int> failed;
    for (const auto& e : *entries) {
      for (std::size_t i = 0; i < dead_ids.size(); ++i) {
        if (dead_ids[i] == e.id) failed.push_back(dead_failed[i]);
      }
    }
    if (auto st = dead_letter(p, conn, *entries, failed); !st) return st;
    round.dead_lettered = entries->size();
  }
  if (!now_ids.empty()) {
    auto entries = claim_content(p, conn, now_ids);
    if (!entries) return entries.status();
    std::unordered_map<std::string, int> failed;
    for (std::size_t i = 0; i < now_ids.size(); ++i) failed.emplace(now_ids[i], now_failed[i]);
    for (auto& e : *entries) {
      const int deliveries = failed[e.id] + 1;
      round.frames.push_back(ClaimedFrame{p, std::move(e), deliveries});
    }
  }
  return round;
}

Result<std::optional<ClaimedFrame>> PendingReclaimer::take(const Suspect& suspect,
                                                           RedisConnection& conn) const {
  auto entries = claim_content(suspect.partition, conn, {suspect.id});
  if (!entries) return entries.status();
  if (entries->empty()) return std::optional<ClaimedFrame>{};
  return std::optional<ClaimedFrame>(
      ClaimedFrame{suspect.partition, std::move(entries->front()), suspect.failed + 1});
}

Result<std::vector<FrameEntry>> PendingReclaimer::claim_content(int p, RedisConnection& conn,
                                                                const std::vector<std::string>& ids) const {
  const std::string key = options_.layout.frames_key(p);
  RedisCommand claim("XCLAIM");
  claim.add(key).add(options_.group).add(options_.consumer).add(std::uint64_t{0});
  for (const auto& id : ids) claim.add(id);
  auto reply = conn.run(claim);
  if (!reply) return reply.status();
  if (auto st = reply_status(**reply, "XCLAIM " + key); !st) return st;
  std::shared_ptr<const redisReply> owner(std::move(*reply));  // claimed payloads point into it
  std::vector<FrameEntry> out;
  RedisCommand drop("XACK");  // entries that are not sluice frames: nothing to process
  drop.add(key).add(options_.group);
  for (std::size_t i = 0; i < owner->elements; ++i) {
    if (owner->element[i]->type != REDIS_REPLY_ARRAY) continue;  // deleted meanwhile (Redis < 7)
    auto parsed = parse_frame_entry(*owner->element[i], owner);
    if (!parsed) {
      spdlog::error("{}: {}; acknowledged and skipped", key, parsed.status().to_string());
      if (const redisReply* id = reply_at(*owner->element[i], 0)) drop.add(reply_str(*id));
      continue;
    }
    out.push_back(std::move(*parsed));
  }
  if (drop.argc() > 3) {
    if (auto r = conn.run(drop); !r) return r.status();
  }
  return out;
}

Status PendingReclaimer::dead_letter(int p, RedisConnection& conn, const std::vector<FrameEntry>& entries,
                                     const std::vector<int>& failed) const {
  if (entries.empty()) return Status::ok();
  const auto& layout = options_.layout;
  std::vector<RedisCommand> commands;
  commands.emplace_back("MULTI");
  RedisCommand xack("XACK");
  xack.add(layout.frames_key(p)).add(options_.group);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& f = entries[i].frame;
    const int deliveries = i < failed.size() ? failed[i] : options_.max_deliveries;
    const std::string reason = fmt::format(
        "delivered {} times without a result: each worker that processed it stopped before writing its "
        "result "
        "(a crash, a kill, or a stall longer than --claim-idle); --max-deliveries is {}",
        deliveries, options_.max_deliveries);
    auto& xadd = commands.emplace_back("XADD");
    xadd.add(layout.dead_key(p));
    if (options_.dead_maxlen > 0)
      xadd.add("MAXLEN").add("~").add(static_cast<std::uint64_t>(options_.dead_maxlen));
    xadd.add("*").add("stream").add(f.stream).add("seq").add(f.seq).add("name").add(f.name);
    xadd.add("entry").add(entries[i].id).add("deliveries").add(static_cast<std::uint64_t>(deliveries));
    xadd.add("reason").add(reason).add("payload").add_borrowed(f.payload.bytes());
    xack.add(entries[i].id);
    spdlog::warn("{}: frame '{}' (stream {}, seq {}, entry {}) goes to the dead-letter stream {}: {}",
                 layout.frames_key(p), f.name, f.stream, f.seq, entries[i].id, layout.dead_key(p), reason);
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
