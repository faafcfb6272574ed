// LogThrottle: at most one log line per interval for an event a peer can cause as often as it
// likes (a refused connection, a rejected request, a plugin's error), with the count held back.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "util/mutex.h"

namespace sluice {

/// Thread-safe. The event is always counted by the caller's metric; this decides only the log.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  LogThrottle() = default;
  explicit LogThrottle(Clock::duration interval) : interval_(interval) {}

  /// When a line may go out now: how many events were held back since the last line (0 or more).
  /// Otherwise nullopt, and this event is held back.
  std::optional<std::uint64_t> admit(Clock::time_point now = Clock::now()) {
    MutexLock lock(mu_);
    if (logged_ && now - last_ < interval_) {
      ++held_back_;
      return std::nullopt;
    }
    logged_ = true;
    last_ = now;
    const std::uint64_t held = held_back_;
    held_back_ = 0;
    return held;
  }

 private:
  const Clock::duration interval_ = std::chrono::seconds(1);
  Mutex mu_;
  bool logged_ GUARDED_BY(mu_) = false;
  Clock::time_point last_ GUARDED_BY(mu_){};
  std::uint64_t held_back_ GUARDED_BY(mu_) = 0;
};

}  // namespace sluice
