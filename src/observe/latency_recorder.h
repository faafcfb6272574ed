// LatencyRecorder: collects latencies (ms) and reports percentiles.
#pragma once

#include <vector>

#include "util/mutex.h"

namespace sluice::observe {

class LatencyRecorder {
 public:
  void add(double ms);
  /// The q-quantile (0..1) of everything recorded, nearest-rank; 0 when empty.
  double quantile(double q) const;
  std::size_t count() const;

 private:
  mutable Mutex mu_;
  mutable std::vector<double> samples_ GUARDED_BY(mu_);
};

}  // namespace sluice::observe
