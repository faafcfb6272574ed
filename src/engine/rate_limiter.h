// RateLimiter: holds a source to a rate (records per second) by blocking the thread that stores.
#pragma once

#include <chrono>

#include "util/mutex.h"

namespace sluice::engine {

/// A token bucket that refills at `rate` permits per second and holds at most one second of
/// them (Guava's SmoothBursty, which Spark's receivers use). Rate 0 means unlimited.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(double rate = 0.0);

  /// Blocks until `permits` are available; returns false when closed first.
  bool acquire(double permits);
  /// Takes `permits` if they are available now and returns zero; otherwise takes nothing and
  /// returns how long until they would be.
  Clock::duration try_acquire(double permits);
  /// Gives back permits taken by try_acquire that were not used.
  void refund(double permits);
  void set_rate(double rate);
  double rate() const;
  void close();

 private:
  void refill(Clock::time_point now) REQUIRES(mu_);

  mutable Mutex mu_;
  CondVar changed_;
  double rate_ GUARDED_BY(mu_);
  double tokens_ GUARDED_BY(mu_) = 0.0;
  Clock::time_point last_ GUARDED_BY(mu_) = Clock::now();
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace sluice::engine
