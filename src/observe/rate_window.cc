#include "observe/rate_window.h"

namespace sluice::observe {

void RateWindow::sample(Clock::time_point now, std::uint64_t total) {
  if (!samples_.empty() && now - samples_.back().t < spacing_) return;  // too close: the rate stays
  samples_.push_back({now, total});
  // Keep one sample at or before the window's start, so the rate spans the whole window.
  while (samples_.size() > 2 && now - samples_[1].t >= window_) samples_.pop_front();
}

double RateWindow::per_second() const {
  if (samples_.size() < 2) return 0.0;
  const auto& first = samples_.front();
  const auto& last = samples_.back();
  const double seconds = std::chrono::duration<double>(last.t - first.t).count();
  if (seconds <= 0 || last.total < first.total) return 0.0;
  return static_cast<double>(last.total - first.total) / seconds;
}

}  // namespace sluice::observe
