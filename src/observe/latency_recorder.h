// LatencyRecorder: collects latencies (ms) and reports percentiles.
#pragma once

#include <mutex>
#include <vector>

namespace sluice::observe {

class LatencyRecorder {
 public:
  void add(double ms);
  /// The q-quantile (0..1) of everything recorded, nearest-rank; 0 when empty.
  double quantile(double q) const;
  std::size_t count() const;

 private:
  mutable std::mutex mu_;
  mutable std::vector<double> samples_;
};

}  // namespace sluice::observe
