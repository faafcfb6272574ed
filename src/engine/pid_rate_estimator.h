// PidRateEstimator: Spark Streaming's PIDRateEstimator, with the same semantics and defaults.
#pragma once

#include <cstdint>
#include <optional>

#include "sluice/pipeline_config.h"

namespace sluice::engine {

using PidSettings = sluice::PidSettings;

/// Estimates the ingestion rate (records/s) a source should be held to, from each completed
/// batch: the error is the gap between the last rate and the observed processing rate, and the
/// integral term is the backlog implied by the scheduling delay. The first batch only seeds the
/// estimator (no estimate), as in Spark.
class PidRateEstimator {
 public:
  PidRateEstimator(std::int64_t batch_interval_ms, PidSettings settings);

  /// `time_ms`: the batch time; `elements`: records the source contributed; delays in ms.
  /// Returns the new rate, or nothing when the batch says nothing (empty, or not newer).
  std::optional<double> compute(std::int64_t time_ms, std::int64_t elements, std::int64_t processing_delay_ms,
                                std::int64_t scheduling_delay_ms);

 private:
  std::int64_t batch_interval_ms_;
  PidSettings settings_;
  bool first_run_ = true;
  std::int64_t latest_time_ = -1;
  double latest_rate_ = -1.0;
  double latest_error_ = -1.0;
};

}  // namespace sluice::engine
