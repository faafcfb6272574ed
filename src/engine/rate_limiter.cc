#include "engine/rate_limiter.h"

#include <algorithm>

namespace sluice::engine {

RateLimiter::RateLimiter(double rate) : rate_(rate) {}

void RateLimiter::refill(Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(tokens_ + elapsed * rate_, std::max(rate_, 1.0));
}

bool RateLimiter::acquire(double permits) {
  MutexLock lock(mu_);
  // Tokens may go negative: a request larger than a second's worth is admitted once it is the
  // caller's turn, and the debt delays the next one, so the long-run rate holds.
  while (!closed_ && rate_ > 0) {
    refill(Clock::now());
    if (tokens_ >= 0) {
      tokens_ -= permits;
      return true;
    }
    const auto wait = std::chrono::duration<double>(-tokens_ / rate_);
    changed_.wait_once_for(
        mu_, std::chrono::duration_cast<Clock::duration>(wait) + std::chrono::microseconds(100));
  }
  return !closed_;
}

RateLimiter::Clock::duration RateLimiter::try_acquire(double permits) {
  MutexLock lock(mu_);
  if (closed_ || rate_ <= 0) return Clock::duration::zero();
  refill(Clock::now());
  if (tokens_ >= 0) {
    tokens_ -= permits;
    return Clock::duration::zero();
  }
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / rate_)) +
         std::chrono::microseconds(100);
}

void RateLimiter::refund(double permits) {
  MutexLock lock(mu_);
  if (rate_ > 0) tokens_ += permits;
}

void RateLimiter::set_rate(double rate) {
  {
    MutexLock lock(mu_);
    refill(Clock::now());
    rate_ = rate;
  }
  changed_.notify_all();
}

double RateLimiter::rate() const {
  MutexLock lock(mu_);
  return rate_;
}

void RateLimiter::close() {
  {
    MutexLock lock(mu_);
    closed_ = true;
  }
  changed_.notify_all();
}

}  // namespace sluice::engine
