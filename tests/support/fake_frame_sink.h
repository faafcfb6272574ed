// FakeFrameSink: a FrameSink for source tests. Keeps every stored frame (so zero-copy payloads stay
// held until clear()), can refuse frames, records restart requests, and lets tests wait, bounded,
// for a condition.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "source/source.h"
#include "support/wait.h"

namespace sluice::test {

class FakeFrameSink final : public source::FrameSink {
 public:
  FakeFrameSink() : stats_("fake") {}

  Status store_many(std::vector<Frame>& frames) override {
    std::lock_guard lock(mu_);
    if (refuse_) {
      ++refusals_;
      changed_.notify_all();
      return Status(Code::kClosed, "refusing (test)");
    }
    for (auto& frame : frames) {
      ++stats_.frames;
      frames_.push_back(std::move(frame));
    }
    changed_.notify_all();
    return Status::ok();
  }
  // The event-loop path: unlimited memory, frames kept as the blocking path keeps them.
  source::Reservation try_reserve(std::size_t, std::size_t) override { return {}; }
  void unreserve(std::size_t) override {}
  void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) override {
    admitted(store_many(frames));
  }
  void set_wake(std::function<void()>) override {}
  Result<std::uint64_t> open_stream(std::string_view) override {
    std::lock_guard lock(mu_);
    ++streams_opened_;
    return next_stream_++;
  }
  void close_stream(std::uint64_t, const Status& why) override {
    std::lock_guard lock(mu_);
    ++streams_closed_;
    if (!why.is_ok() && why.code() != Code::kClosed) ++stats_.errors;
  }
  void report_error(const Status& error) override {
    std::lock_guard lock(mu_);
    ++stats_.errors;
    stats_.set_last_error(error.to_string());
    reported_.push_back(error.to_string());
    changed_.notify_all();
  }
  observe::SourceStats& stats() override { return stats_; }
  void request_restart(const Status& why) override {
    std::lock_guard lock(mu_);
    restarts_requested_.push_back(why.to_string());
    changed_.notify_all();
  }

  void set_refuse(bool refuse) {
    std::lock_guard lock(mu_);
    refuse_ = refuse;
  }
  /// Drops every frame held (zero-copy payloads are released here).
  void clear() {
    std::vector<Frame> dropped;
    std::lock_guard lock(mu_);
    dropped.swap(frames_);
  }
  std::vector<Frame> frames() const {
    std::lock_guard lock(mu_);
    return frames_;
  }
  std::size_t frame_count() const {
    std::lock_guard lock(mu_);
    return frames_.size();
  }
  int refusals() const {
    std::lock_guard lock(mu_);
    return refusals_;
  }
  std::vector<std::string> reported() const {
    std::lock_guard lock(mu_);
    return reported_;
  }
  std::vector<std::string> restarts_requested() const {
    std::lock_guard lock(mu_);
    return restarts_requested_;
  }
  int streams_opened() const {
    std::lock_guard lock(mu_);
    return streams_opened_;
  }
  int streams_closed() const {
    std::lock_guard lock(mu_);
    return streams_closed_;
  }

  /// Waits up to `timeout` for `ready` (checked under the lock at every change); its last value.
  bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return ready(); });
  }
  /// Waits for at least `n` refused store calls.
  bool wait_for_refusals(int n, std::chrono::milliseconds timeout) {
    return wait_until([&] { return refusals_ >= n; }, timeout);
  }
  /// Waits for at least `n` frames.
  bool wait_for_frames(std::size_t n, std::chrono::milliseconds timeout) {
    return wait_until([&] { return frames_.size() >= n; }, timeout);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  observe::SourceStats stats_;
  std::vector<Frame> frames_;
  std::vector<std::string> reported_;
  std::vector<std::string> restarts_requested_;
  std::uint64_t next_stream_ = 1;
  int streams_opened_ = 0;
  int streams_closed_ = 0;
  bool refuse_ = false;
  int refusals_ = 0;
};

}  // namespace sluice::test
