#include "observe/latency_recorder.h"

#include <algorithm>
#include <cmath>

namespace sluice::observe {

void LatencyRecorder::add(double ms) {
  MutexLock lock(mu_);
  samples_.push_back(ms);
}

double LatencyRecorder::quantile(double q) const {
  MutexLock lock(mu_);
  if (samples_.empty()) return 0.0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples_.size())));
  const std::size_t index = std::min(samples_.size() - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(index), samples_.end());
  return samples_[index];
}

std::size_t LatencyRecorder::count() const {
  MutexLock lock(mu_);
  return samples_.size();
}

}  // namespace sluice::observe
