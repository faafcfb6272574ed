// RateController: the rate each source is held to (Spark's receiver.maxRate and, with
// backpressure, its PID rate estimator fed by every completed batch).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "engine/batch_info.h"
#include "engine/block.h"
#include "engine/pid_rate_estimator.h"
#include "engine/rate_limiter.h"
#include "sluice/pipeline_config.h"
#include "util/mutex.h"

namespace sluice::engine {

class RateController {
 public:
  /// Reads backpressure, initial_rate, max_rate, pid and batch_interval.
  explicit RateController(const PipelineConfig& config);

  /// Adds the limiter of the next source; it lives as long as the controller.
  RateLimiter& add_source();
  /// Feeds each source's estimator with what it contributed to `blocks`, and returns the sum
  /// of the rates the sources are now held to (0 = unlimited). Thread-safe.
  double on_batch_completed(const BatchInfo& info, const std::vector<Block>& blocks,
                            Clock::time_point started);
  /// The records/s source `i` is held to now (0 = unlimited).
  double rate(std::size_t i) const;
  /// Wakes sources waiting for their rate, for shutdown.
  void close();

 private:
  /// Applies max_rate to a rate (0 = unlimited).
  double cap(double rate) const;

  bool backpressure_;
  double initial_rate_;
  double max_rate_;
  PidSettings pid_;
  std::int64_t batch_interval_ms_;
  mutable Mutex mu_;  // estimators are fed from the commit thread, rates read from anywhere
  std::vector<std::unique_ptr<RateLimiter>> limiters_ GUARDED_BY(mu_);
  std::vector<std::optional<PidRateEstimator>> estimators_ GUARDED_BY(mu_);
};

}  // namespace sluice::engine
