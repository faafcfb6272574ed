#include "observe/histogram_window.h"

namespace sluice::observe {

Histogram::Snapshot HistogramWindow::recent(Clock::time_point now) {
  auto current = histogram_.snapshot();
  // One kept sample per second at most: the memory stays bounded however often it is asked.
  if (samples_.empty() || now - samples_.back().t >= std::chrono::seconds(1)) {
    samples_.push_back({now, current});
  }
  while (samples_.size() > 1 && now - samples_[1].t >= window_) samples_.pop_front();
  return current.since(samples_.front().snapshot);
}

}  // namespace sluice::observe
