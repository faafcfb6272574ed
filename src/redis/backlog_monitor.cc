#include "redis/backlog_monitor.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::redis {

BacklogMonitor::BacklogMonitor(const RedisUrl& url, StreamLayout layout, BacklogOptions options,
                               ConnectionOptions connection)
    : layout_(std::move(layout)), options_(options) {
  for (int p = 0; p < layout_.partitions; ++p)
    conns_.push_back(std::make_unique<RedisConnection>(url, connection));
}

BacklogMonitor::~BacklogMonitor() {
  stop();
}

Status BacklogMonitor::start() {
  if (auto st = poll_once(); !st) return st;
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void BacklogMonitor::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BacklogMonitor::has_room() const {
  MutexLock lock(mu_);
  return stopping_ || !over(backlog_);
}

Backlog BacklogMonitor::current() const {
  MutexLock lock(mu_);
  return backlog_;
}

bool BacklogMonitor::wait_for_room() {
  MutexLock lock(mu_);
  cv_.wait(mu_, [this]() REQUIRES(mu_) { return stopping_ || !over(backlog_); });
  return !stopping_;
}

Status BacklogMonitor::poll_once() {
  Backlog b;
  b.known = true;
  for (int p = 0; p < layout_.partitions; ++p) {
    const auto key = layout_.frames_key(p);
    std::vector<RedisCommand> commands;
    commands.emplace_back("XLEN").add(key);
    commands.emplace_back("XINFO").add("GROUPS").add(key);
    auto replies = conns_[static_cast<std::size_t>(p)]->pipeline(commands);
    if (!replies) return replies.status();
    if (auto st = reply_status(*(*replies)[0], "XLEN " + key); !st) return st;
    const auto length = static_cast<std::uint64_t>(reply_integer(*(*replies)[0]).value_or(0));
    const redisReply& groups = *(*replies)[1];
    std::uint64_t waiting = length;  // no group yet: every entry waits
    if (groups.type == REDIS_REPLY_ARRAY && groups.elements > 0) {
      waiting = 0;
      for (std::size_t g = 0; g < groups.elements; ++g) {
        const redisReply* lag = reply_field(*groups.element[g], "lag");
        const redisReply* pending = reply_field(*groups.element[g], "pending");
        // lag is nil when Redis cannot tell (entries deleted in the middle): count the length.
        const auto lag_v = lag ? reply_integer(*lag) : std::nullopt;
        const auto undelivered = lag_v ? static_cast<std::uint64_t>(*lag_v) : length;
        const auto unacked = pending ? static_cast<std::uint64_t>(reply_integer(*pending).value_or(0)) : 0;
        waiting = std::max(waiting, undelivered + unacked);
      }
    }
    b.waiting += waiting;
    b.longest = std::max(b.longest, length);
  }
  bool changed = false;
  bool blocked = false;
  {
    MutexLock lock(mu_);
    backlog_ = b;
    blocked = over(b);
    changed = blocked != blocked_;
    blocked_ = blocked;
  }
  cv_.notify_all();
  if (changed && blocked) {
    spdlog::warn(
        "ingest: backpressure: {} frames wait in Redis (bound {}), longest partition {} entries (bound {}); "
        "not "
        "reading sockets until workers catch up",
        b.waiting, options_.max_backlog, b.longest, options_.max_stream_length);
  } else if (changed) {
    spdlog::info("ingest: backlog down to {} frames; reading sockets again", b.waiting);
  }
  return Status::ok();
}

void BacklogMonitor::run() {
  bool failing = false;
  while (true) {
    {
      MutexLock lock(mu_);
      if (cv_.wait_for(mu_, options_.poll, [this]() REQUIRES(mu_) { return stopping_; })) return;
    }
    if (auto st = poll_once(); !st) {
      // The last figures stay: writes fail anyway while Redis is away.
      if (!failing) spdlog::warn("ingest: cannot read the backlog: {}", st.to_string());
      failing = true;
    } else if (failing) {
      spdlog::info("ingest: backlog readable again");
      failing = false;
    }
  }
}

}  // namespace sluice::redis
