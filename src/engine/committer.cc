#include "engine/committer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::engine {

Committer::Committer(Services services, Policy policy) : services_(std::move(services)), policy_(policy) {}

Committer::~Committer() {
  stop(std::chrono::steady_clock::now());
}

void Committer::add_listener(ResultListener* listener) {
  listeners_.push_back(listener);
}

void Committer::start() {
  last_sync_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
}

std::unique_ptr<TaskOutcome> Committer::take_outcome() {
  {
    MutexLock lock(pool_mu_);
    if (!pool_.empty()) {
      auto outcome = std::move(pool_.back());
      pool_.pop_back();
      return outcome;
    }
  }
  return std::make_unique<TaskOutcome>();
}

void Committer::complete(std::unique_ptr<TaskOutcome> outcome) {
  waiting_frames_.fetch_add(outcome->count, std::memory_order_relaxed);
  {
    MutexLock lock(mu_);
    const std::uint64_t ticket = outcome->task.ticket;
    ready_.emplace(ticket, std::move(outcome));
  }
  cv_.notify_one();
}

std::uint64_t Committer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    deadline_ = deadline;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  MutexLock lock(mu_);
  std::uint64_t left = abandoned_frames_;
  for (const auto& [ticket, outcome] : ready_) left += outcome->count;
  return left;
}

bool Committer::healthy() const {
  MutexLock lock(mu_);
  return healthy_;
}

std::string Committer::last_error() const {
  MutexLock lock(mu_);
  return last_error_;
}

sink::Durability Committer::durability() {
  const auto now = std::chrono::steady_clock::now();
  switch (policy_.fsync) {
    case FsyncPolicy::kAlways:
      return sink::Durability::kSynced;
    case FsyncPolicy::kInterval:
      if (now - last_sync_ >= policy_.fsync_interval) {
        last_sync_ = now;
        return sink::Durability::kSynced;
      }
      return sink::Durability::kFlushed;
    case FsyncPolicy::kNever:
      break;
  }
  return sink::Durability::kFlushed;
}

void Committer::sync_flushed_lines() {
  if (!unsynced_) return;
  last_sync_ = std::chrono::steady_clock::now();
  if (auto st = services_.sink.commit(sink::Durability::kSynced); !st) {
    // The lines stay flushed (the sink cuts back nothing it already committed); tried again
    // after another interval.
    services_.metrics.sink_write_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("output: fsync failed: {}; tried again in {} ms", st.message(),
                  policy_.fsync_interval.count());
    return;
  }
  unsynced_ = false;
}

void Committer::run() {
  std::vector<std::unique_ptr<TaskOutcome>> group;
  mu_.lock();
  const auto has_work = [&]() REQUIRES(mu_) { return ready_.count(next_) > 0 || stopping_; };
  while (true) {
    // Executors have all finished when stop() is called, so every issued ticket is here or done.
    if (unsynced_) {
      // fsync=interval: lines flushed but not synced become durable within an interval even
      // when no later commit comes to sync them.
      if (!cv_.wait_until(mu_, last_sync_ + policy_.fsync_interval, has_work)) {
        mu_.unlock();
        sync_flushed_lines();
        mu_.lock();
        continue;
      }
    } else {
      cv_.wait(mu_, has_work);
    }
    if (ready_.count(next_) == 0) {
      if (stopping_ && (next_ >= issued_.load() || ready_.empty())) break;
      continue;
    }
    for (auto it = ready_.find(next_); it != ready_.end() && it->first == next_; it = ready_.find(next_)) {
      group.push_back(std::move(it->second));
      ready_.erase(it);
      ++next_;
    }
    mu_.unlock();
    const bool delivered = deliver(group);
    if (delivered) finish(group);
    mu_.lock();
    if (!delivered) {
      // Given up at the stop deadline: these frames stay undone (a write-ahead log replays them).
      for (const auto& o : group) abandoned_frames_ += o->count;
      group.clear();
      break;
    }
    group.clear();
  }
  const bool gave_up = abandoned_frames_ > 0;
  mu_.unlock();
  // A graceful stop leaves every line durable.
  if (!gave_up) sync_flushed_lines();
}

bool Committer::deliver(std::vector<std::unique_ptr<TaskOutcome>>& group) {
  auto backoff = std::chrono::milliseconds(100);
  for (std::uint64_t attempt = 1;; ++attempt) {
    Status st;
    for (auto& outcome : group) {
      st = services_.sink.write(outcome->results());
      if (!st) break;
    }
    const auto level = durability();
    if (st) st = services_.sink.commit(level);
    if (st) {
      unsynced_ = policy_.fsync == FsyncPolicy::kInterval && level == sink::Durability::kFlushed;
      bool recovered = false;
      {
        MutexLock lock(mu_);
        recovered = !healthy_;
        healthy_ = true;
      }
      if (recovered) {
        services_.budget.set_paused(false);
        spdlog::info("output: written again after {} attempt(s); sources resume", attempt);
      }
      return true;
    }
    services_.metrics.sink_write_failures.fetch_add(1, std::memory_order_relaxed);
    services_.budget.set_paused(true);
    MutexLock lock(mu_);
    if (healthy_ || attempt % 20 == 0) {
      spdlog::error(
          "output: {}; {} frame(s) wait for their lines, no new frames are accepted, and the write is "
          "retried every "
          "{} ms. Free space (or fix the error) to go on",
          st.message(), waiting_frames_.load(), backoff.count());
    }
    healthy_ = false;
    last_error_ = st.message();
    if (cv_.wait_until(
            mu_, std::min(std::chrono::steady_clock::now() + backoff, deadline_),
            [&]() REQUIRES(mu_) { return stopping_ && std::chrono::steady_clock::now() >= deadline_; })) {
      return false;
    }
    if (stopping_ && std::chrono::steady_clock::now() >= deadline_) return false;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

void Committer::finish(std::vector<std::unique_ptr<TaskOutcome>>& group) {
  if (services_.wal != nullptr) {
    lsns_.clear();
    for (const auto& o : group) {
      for (const auto& frame : o->task.frames()) {
        if (frame.wal_lsn != 0) lsns_.push_back(frame.wal_lsn);
      }
    }
    services_.wal->mark_done(lsns_);
  }
  auto& metrics = services_.metrics;
  for (auto& o : group) {
    const auto& task = o->task;
    if (services_.frames_done) services_.frames_done(task.batch->blocks[task.block].source, task.frames());
    for (const auto& r : o->results()) {
      if (r.duplicate) {
        metrics.duplicates_suppressed.fetch_add(1, std::memory_order_relaxed);
      } else if (r.ok()) {
        metrics.frames_succeeded.fetch_add(1, std::memory_order_relaxed);
      } else {
        metrics.frames_failed.fetch_add(1, std::memory_order_relaxed);
        metrics.count_error_line(r.error_code);
      }
    }
    for (auto* listener : listeners_) listener->on_results(o->results());
    services_.budget.release(o->reserved_bytes);
    waiting_frames_.fetch_sub(o->count, std::memory_order_relaxed);
    if (task.batch->tasks_uncommitted.fetch_sub(1) == 1 && services_.batch_committed) {
      services_.batch_committed(*task.batch);
    }
    o->task = Task{};
    o->count = 0;
    o->reserved_bytes = 0;
  }
  // The dedup index grew with these lines: it counts against the budget too.
  services_.budget.set_external(services_.sink.memory_bytes());
  MutexLock lock(pool_mu_);
  for (auto& o : group) pool_.push_back(std::move(o));
}

}  // namespace sluice::engine
