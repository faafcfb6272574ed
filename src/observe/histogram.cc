#include "observe/histogram.h"

#include <algorithm>
#include <cassert>
#include <functional>

namespace sluice::observe {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {
  assert(std::adjacent_find(bounds_.begin(), bounds_.end(), std::greater_equal<>()) == bounds_.end() &&
         "histogram bounds must be strictly increasing");
}

std::vector<double> Histogram::latency_seconds_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0};
}

void Histogram::observe(double value) {
  // Prometheus buckets are "less than or equal": the first bound >= value.
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.counts.reserve(counts_.size());
  for (const auto& c : counts_) {
    s.counts.push_back(c.load(std::memory_order_relaxed));
    s.count += s.counts.back();
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

double Histogram::Snapshot::quantile(double q) const {
  if (count == 0 || bounds.empty()) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(count);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const std::uint64_t in_bucket = counts[i];
    if (in_bucket > 0 && static_cast<double>(below + in_bucket) >= rank) {
      if (i == bounds.size()) return bounds.back();  // +Inf bucket: no upper bound to interpolate to
      const double lower = i == 0 ? 0.0 : bounds[i - 1];
      const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(in_bucket);
      return lower + (bounds[i] - lower) * std::clamp(fraction, 0.0, 1.0);
    }
    below += in_bucket;
  }
  return bounds.back();
}

Histogram::Snapshot Histogram::Snapshot::since(const Snapshot& earlier) const {
  Snapshot d = *this;
  if (earlier.counts.size() != counts.size()) return d;
  d.count = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.count += d.counts[i];
  }
  d.sum = sum - earlier.sum;
  return d;
}

}  // namespace sluice::observe
