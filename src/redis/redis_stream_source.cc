#include "redis/redis_stream_source.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "redis/frame_entry.h"
#include "redis/stream_trimmer.h"
#include "source/backoff.h"

namespace sluice::redis {
namespace {
using std::chrono::milliseconds;
constexpr std::size_t kHeartbeatChunk = 500;  // ids per XCLAIM

// XACKs entries that are not sluice frames: nothing to process, and they would otherwise be
// redelivered forever.
void drop_foreign(RedisConnection& conn, const std::string& key, const std::string& group,
                  const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  RedisCommand ack("XACK");
  ack.add(key).add(group);
  for (const auto& id : ids) ack.add(id);
  if (auto r = conn.run(ack); !r)
    spdlog::warn("{}: cannot acknowledge {} foreign entries: {}", key, ids.size(), r.status().to_string());
}
}  // namespace

RedisStreamSource::RedisStreamSource(StreamSourceOptions options)
    : options_(std::move(options)), reclaimer_(options_.reclaim) {}

RedisStreamSource::~RedisStreamSource() {
  stop();
}

std::string RedisStreamSource::name() const {
  return fmt::format("redis {} group {} consumer {}", options_.url.to_string(), options_.group,
                     options_.consumer);
}

Status RedisStreamSource::ensure_group(RedisConnection& conn, int p) {
  const auto key = options_.layout.frames_key(p);
  RedisCommand create("XGROUP");
  create.add("CREATE").add(key).add(options_.group).add(options_.group_start).add("MKSTREAM");
  auto reply = conn.run(create);
  if (!reply) return reply.status();
  if (reply_is_error(**reply)) {
    if (reply_str(**reply).starts_with("BUSYGROUP")) return Status::ok();
    return reply_status(**reply, "XGROUP CREATE " + key);
  }
  spdlog::info("{}: created consumer group {} (from {})", key, options_.group, options_.group_start);
  return Status::ok();
}

Status RedisStreamSource::start(source::FrameSink& sink) {
  sink_ = &sink;
  // A blocking read must come back before the socket timeout.
  auto conn_options = options_.connection;
  conn_options.io_timeout = std::max(conn_options.io_timeout, options_.block + milliseconds(5000));
  for (int p = 0; p < options_.layout.partitions; ++p) {
    readers_.push_back(std::make_unique<RedisConnection>(options_.url, conn_options));
    if (auto st = ensure_group(*readers_.back(), p); !st) return st;
  }
  spdlog::info(
      "{}: reading {} partitions ({}:{{0..{}}}), count {}, block {} ms; claim idle {} ms, max deliveries {}",
      name(), options_.layout.partitions, options_.layout.frames_prefix, options_.layout.partitions - 1,
      options_.read_count, options_.block.count(), options_.reclaim.claim_idle.count(),
      options_.reclaim.max_deliveries);
  for (int p = 0; p < options_.layout.partitions; ++p) threads_.emplace_back([this, p] { read_loop(p); });
  threads_.emplace_back([this] { maintenance_loop(); });
  threads_.emplace_back([this] { feed_loop(); });
  return Status::ok();
}

void RedisStreamSource::stop() {
  if (threads_.empty()) return;
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& r : readers_) r->interrupt();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Reclaimed frames never stored stay pending in Redis; another worker takes them.
  MutexLock lock(mu_);
  std::vector<Frame> left(std::make_move_iterator(claimed_.begin()), std::make_move_iterator(claimed_.end()));
  claimed_.clear();
  table_.remove(left);
  for (const auto& [suspect, token] : isolated_) table_.erase(token);
  isolated_.clear();
  spdlog::info("{}: stopped after {} frames read, {} reclaimed, {} dead-lettered", name(), read_.load(),
               reclaimed_.load(), dead_.load());
}

bool RedisStreamSource::pause(milliseconds d) {
  MutexLock lock(mu_);
  return !cv_.wait_for(mu_, d, [this] { return stopping_.load(); });
}

void RedisStreamSource::read_loop(int p) {
  auto& conn = *readers_[static_cast<std::size_t>(p)];
  const auto key = options_.layout.frames_key(p);
  source::Backoff backoff(milliseconds(100), milliseconds(5000));
  bool failing = false;
  while (!stopping_) {
    {
      MutexLock lock(mu_);
      cv_.wait(mu_, [this] { return stopping_ || table_.size() < options_.max_in_flight; });
      if (stopping_) break;
    }
    RedisCommand read("XREADGROUP");
    read.add("GROUP").add(options_.group).add(options_.consumer);
    read.add("COUNT").add(static_cast<std::uint64_t>(options_.read_count));
    read.add("BLOCK").add(static_cast<std::uint64_t>(options_.block.count()));
    read.add("STREAMS").add(key).add(">");
    auto reply = conn.run(read);
    Status error;
    if (!reply) {
      error = reply.status();
    } else if (reply_is_error(**reply)) {
      error = reply_status(**reply, "XREADGROUP " + key);
      // The stream or group is gone (Redis restarted without persistence, or a FLUSHALL).
      if (reply_str(**reply).starts_with("NOGROUP")) (void)ensure_group(conn, p);
    }
    if (!error.is_ok()) {
      if (stopping_ || error.code() == Code::kClosed) break;
      if (!failing) spdlog::warn("{}: {}; retrying with backoff", key, error.to_string());
      failing = true;
      pause(backoff.next());
      continue;
    }
    if (failing) spdlog::info("{}: reading again", key);
    failing = false;
    backoff.reset();
    if ((*reply)->type == REDIS_REPLY_NIL) continue;             // BLOCK timed out: nothing new
    std::shared_ptr<const redisReply> owner(std::move(*reply));  // payloads point into it
    const redisReply* stream = reply_at(*owner, 0);
    const redisReply* entries = stream ? reply_at(*stream, 1) : nullptr;
    if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY) continue;
    std::vector<Frame> frames;
    std::vector<std::string> foreign;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < entries->elements; ++i) {
      auto parsed = parse_frame_entry(*entries->element[i], owner);
      if (!parsed) {
        spdlog::error("{}: {}; acknowledged and skipped", key, parsed.status().to_string());
        if (const redisReply* id = reply_at(*entries->element[i], 0)) foreign.emplace_back(reply_str(*id));
        continue;
      }
      parsed->frame.token = table_.add(InFlightEntry{p, std::move(parsed->id), 1, now});
      frames.push_back(std::move(parsed->frame));
    }
    drop_foreign(conn, key, options_.group, foreign);
    if (frames.empty()) continue;
    read_ += frames.size();
    const std::vector<Frame> tokens_only = [&] {
      std::vector<Frame> t(frames.size());
      for (std::size_t i = 0; i < frames.size(); ++i) t[i].token = frames[i].token;
      return t;
    }();
    if (auto st = sink_->store_many(frames); !st) {
      table_.remove(tokens_only);  // not accepted: they stay pending in Redis
      break;
    }
  }
}

void RedisStreamSource::feed_loop() {
  constexpr std::uint64_t kTaking = ~0ull;              // suspect_token_ while a suspect's content is fetched
  std::vector<std::unique_ptr<RedisConnection>> conns;  // per partition, for suspects
  for (int p = 0; p < options_.layout.partitions; ++p) {
    conns.push_back(std::make_unique<RedisConnection>(options_.url, options_.connection));
  }
  while (true) {
    std::vector<Frame> batch;
    std::optional<std::pair<Suspect, std::uint64_t>> suspect;
    {
      MutexLock lock(mu_);
      cv_.wait(mu_, [this]() REQUIRES(mu_) {
        return stopping_ || !claimed_.empty() || (!isolated_.empty() && suspect_token_ == 0);
      });
      if (stopping_) return;
      if (!claimed_.empty()) {
        batch.assign(std::make_move_iterator(claimed_.begin()), std::make_move_iterator(claimed_.end()));
        claimed_.clear();
      } else {
        suspect = std::move(isolated_.front());
        isolated_.pop_front();
        suspect_token_ = kTaking;
      }
    }
    if (suspect) {
      const auto& [s, held] = *suspect;
      auto taken = reclaimer_.take(s, *conns[static_cast<std::size_t>(s.partition)]);
      table_.erase(held);
      if (!taken || !*taken) {
        if (!taken) spdlog::warn("{}: cannot take frame {}: {}", name(), s.id, taken.status().to_string());
        MutexLock lock(mu_);
        suspect_token_ = 0;  // not ours any more, or pending again for a later round
        continue;
      }
      auto& c = **taken;
      c.entry.frame.token = table_.add(InFlightEntry{c.partition, c.entry.id, c.deliveries, Clock::now()});
      spdlog::info("{}: processing frame '{}' (stream {}, seq {}) alone: its {} earlier deliveries failed",
                   name(), c.entry.frame.name, c.entry.frame.stream, c.entry.frame.seq, s.failed);
      {
        MutexLock lock(mu_);
        suspect_token_ = c.entry.frame.token;
      }
      batch.push_back(std::move(c.entry.frame));
    }
    std::vector<Frame> tokens(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) tokens[i].token = batch[i].token;
    if (auto st = sink_->store_many(batch); !st) {
      table_.remove(tokens);
      return;
    }
  }
}

void RedisStreamSource::on_frames_done(std::span<const Frame> frames) {
  table_.remove(frames);
  {
    MutexLock lock(mu_);
    for (const auto& f : frames) {
      if (suspect_token_ != 0 && f.token == suspect_token_) suspect_token_ = 0;
    }
  }
  cv_.notify_all();  // readers wait for room, the feeder for the isolated frame
}

void RedisStreamSource::heartbeat(std::vector<std::unique_ptr<RedisConnection>>& conns) {
  const auto now = Clock::now();
  const auto due = table_.take_due(now - options_.heartbeat, now, options_.layout.partitions);
  const auto min_idle = static_cast<std::uint64_t>(options_.heartbeat.count() / 2);
  for (int p = 0; p < options_.layout.partitions; ++p) {
    const auto& ids = due[static_cast<std::size_t>(p)];
    std::vector<RedisCommand> claims;
    for (std::size_t begin = 0; begin < ids.size(); begin += kHeartbeatChunk) {
      auto& c = claims.emplace_back("XCLAIM");
      c.add(options_.layout.frames_key(p)).add(options_.group).add(options_.consumer).add(min_idle);
      for (std::size_t i = begin; i < std::min(ids.size(), begin + kHeartbeatChunk); ++i) c.add(ids[i]);
      c.add("JUSTID");  // JUSTID: the delivery count stays as it is
    }
    if (claims.empty()) continue;
    auto replies = conns[static_cast<std::size_t>(p)]->pipeline(claims);
    if (!replies) {
      maintenance_error(fmt::format("heartbeat of {} frames", ids.size()), replies.status());
    } else {
      ++maintenance_successes_;
    }
  }
}

void RedisStreamSource::reclaim_round(std::vector<std::unique_ptr<RedisConnection>>& conns) {
  const std::size_t limit = options_.reclaim.claim_count;
  for (int p = 0; p < options_.layout.partitions && !stopping_; ++p) {
    {
      MutexLock lock(mu_);
      if (claimed_.size() >= limit || isolated_.size() >= limit) return;  // still feeding the last ones
    }
    auto round = reclaimer_.reclaim(p, *conns[static_cast<std::size_t>(p)]);
    if (!round) {
      maintenance_error("reclaiming", round.status());
      continue;
    }
    ++maintenance_successes_;
    dead_ += round->dead_lettered;
    if (round->frames.empty() && round->suspects.empty()) continue;
    const auto now = Clock::now();
    MutexLock lock(mu_);
    for (auto& c : round->frames) {
      c.entry.frame.token = table_.add(InFlightEntry{p, c.entry.id, c.deliveries, now});
      claimed_.push_back(std::move(c.entry.frame));
    }
    for (auto& s : round->suspects) {
      const auto token = table_.add(InFlightEntry{p, s.id, s.failed, now});  // heartbeats until taken
      isolated_.emplace_back(std::move(s), token);
    }
    reclaimed_ += round->frames.size() + round->suspects.size();
    spdlog::info("{}: reclaimed {} frames idle for more than {} ms ({} to process alone)",
                 options_.layout.frames_key(p), round->frames.size() + round->suspects.size(),
                 options_.reclaim.claim_idle.count(), round->suspects.size());
    cv_.notify_all();
  }
}

void RedisStreamSource::maintenance_error(std::string_view what, const Status& error) {
  if (error.code() == Code::kClosed) return;
  ++maintenance_errors_;
  // One line per outage, not one per partition and round.
  if (!maintenance_failing_ && maintenance_errors_ == 1) {
    spdlog::warn("{}: {} failed: {}; retrying every round until Redis answers", name(), what,
                 error.to_string());
  }
}

void RedisStreamSource::trim(std::vector<std::unique_ptr<RedisConnection>>& conns) {
  const auto& layout = options_.layout;
  const auto now_ms = static_cast<std::uint64_t>(unix_micros_now() / 1000);
  for (int p = 0; p < layout.partitions && !stopping_; ++p) {
    auto& conn = *conns[static_cast<std::size_t>(p)];
    if (auto trimmed = trim_processed(conn, layout.frames_key(p)); !trimmed) {
      maintenance_error("trimming", trimmed.status());
    }
    // Entry ids start with the Redis server's clock in ms: MINID by time is retention by age.
    for (const auto& [key, ttl] : {std::pair{layout.results_key(p), options_.results_ttl},
                                   std::pair{layout.dead_key(p), options_.dead_ttl}}) {
      if (ttl.count() <= 0 || static_cast<std::uint64_t>(ttl.count()) >= now_ms) continue;
      RedisCommand xtrim("XTRIM");
      xtrim.add(key).add("MINID").add("~").add(now_ms - static_cast<std::uint64_t>(ttl.count()));
      if (auto r = conn.run(xtrim); !r) maintenance_error("trimming by age", r.status());
    }
  }
}

void RedisStreamSource::maintenance_loop() {
  std::vector<std::unique_ptr<RedisConnection>> conns;
  for (int p = 0; p < options_.layout.partitions; ++p) {
    conns.push_back(std::make_unique<RedisConnection>(options_.url, options_.connection));
  }
  const auto beat_every = std::max(milliseconds(10), options_.heartbeat / 2);
  auto now = Clock::now();
  auto next_beat = now + beat_every;
  auto next_claim = now;
  auto next_trim = now + options_.trim_interval;
  while (!stopping_) {
    now = Clock::now();
    if (maintenance_failing_ && maintenance_errors_ == 0 && maintenance_successes_ > 0) {
      spdlog::info("{}: maintenance (heartbeats, reclaiming, trimming) works again", name());
      maintenance_failing_ = false;
    }
    maintenance_failing_ = maintenance_failing_ || maintenance_errors_ > 0;
    maintenance_errors_ = 0;
    maintenance_successes_ = 0;
    if (now >= next_beat) {
      heartbeat(conns);
      next_beat = now + beat_every;
    }
    if (now >= next_claim) {
      const auto before = reclaimed_.load() + dead_.load();
      reclaim_round(conns);
      // More may wait behind a full round: look again soon.
      const bool busy = reclaimed_.load() + dead_.load() - before >= options_.reclaim.claim_count;
      next_claim = Clock::now() + (busy ? milliseconds(100) : options_.claim_interval);
    }
    if (options_.trim_interval.count() > 0 && now >= next_trim) {
      trim(conns);
      next_trim = Clock::now() + options_.trim_interval;
    }
    auto wake = std::min(next_beat, next_claim);
    if (options_.trim_interval.count() > 0) wake = std::min(wake, next_trim);
    pause(std::max(milliseconds(5), std::chrono::duration_cast<milliseconds>(wake - Clock::now())));
  }
}

}  // namespace sluice::redis
