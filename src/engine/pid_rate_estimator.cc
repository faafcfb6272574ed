#include "engine/pid_rate_estimator.h"

#include <algorithm>

namespace sluice::engine {

PidRateEstimator::PidRateEstimator(std::int64_t batch_interval_ms, PidSettings settings)
    : batch_interval_ms_(batch_interval_ms), settings_(settings) {}

std::optional<double> PidRateEstimator::compute(std::int64_t time_ms, std::int64_t elements,
                                                std::int64_t processing_delay_ms,
                                                std::int64_t scheduling_delay_ms) {
  if (time_ms <= latest_time_ || elements <= 0 || processing_delay_ms <= 0) return std::nullopt;
  const double delay_since_update = static_cast<double>(time_ms - latest_time_) / 1000.0;  // s
  const double processing_rate =
      static_cast<double>(elements) / static_cast<double>(processing_delay_ms) * 1000.0;
  const double error = latest_rate_ - processing_rate;
  // The records the scheduling delay represents, spread over one batch interval.
  const double historical_error =
      static_cast<double>(scheduling_delay_ms) * processing_rate / static_cast<double>(batch_interval_ms_);
  const double d_error = (error - latest_error_) / delay_since_update;
  const double new_rate = std::max(latest_rate_ - settings_.proportional * error -
                                       settings_.integral * historical_error - settings_.derivative * d_error,
                                   settings_.min_rate);
  latest_time_ = time_ms;
  if (first_run_) {
    latest_rate_ = processing_rate;
    latest_error_ = 0.0;
    first_run_ = false;
    return std::nullopt;
  }
  latest_rate_ = new_rate;
  latest_error_ = error;
  return new_rate;
}

}  // namespace sluice::engine
