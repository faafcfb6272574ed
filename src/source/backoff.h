// Backoff: the exponential delay sequence used between restarts.
#pragma once

#include <algorithm>
#include <chrono>

namespace sluice::source {

/// initial, 2 x initial, 4 x initial, ... capped at max. Not thread-safe.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(std::max(initial, std::chrono::milliseconds(1))),
        max_(std::max(max, initial_)),
        next_(initial_) {}

  /// The delay to wait now; the one after it doubles, up to max.
  std::chrono::milliseconds next() {
    const auto now = next_;
    next_ = std::min(next_ * 2, max_);
    return now;
  }
  /// Back to the initial delay (after the source ran long enough to count as healthy).
  void reset() { next_ = initial_; }

  std::chrono::milliseconds initial() const { return initial_; }
  std::chrono::milliseconds max() const { return max_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
};

}  // namespace sluice::source
