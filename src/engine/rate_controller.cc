#include "engine/rate_controller.h"

#include <algorithm>

namespace sluice::engine {

RateController::RateController(const PipelineConfig& config)
    : backpressure_(config.backpressure),
      initial_rate_(config.initial_rate),
      max_rate_(config.max_rate),
      pid_(config.pid),
      batch_interval_ms_(config.batch_interval.count()) {}

double RateController::cap(double rate) const {
  if (max_rate_ <= 0) return rate;
  return rate <= 0 ? max_rate_ : std::min(rate, max_rate_);
}

RateLimiter& RateController::add_source() {
  // Spark's semantics: maxRate always caps; with backpressure the initial rate holds until the
  // first estimate, which then moves with every batch.
  const double initial = backpressure_ && initial_rate_ > 0 ? initial_rate_ : 0.0;
  MutexLock lock(mu_);
  limiters_.push_back(std::make_unique<RateLimiter>(cap(initial)));
  estimators_.emplace_back();
  if (backpressure_) estimators_.back().emplace(batch_interval_ms_, pid_);
  return *limiters_.back();
}

double RateController::on_batch_completed(const BatchInfo& info, const std::vector<Block>& blocks,
                                          Clock::time_point started) {
  MutexLock lock(mu_);
  const auto batch_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(info.batch_time - started).count();
  for (std::size_t s = 0; s < estimators_.size(); ++s) {
    if (!estimators_[s]) continue;
    std::int64_t records = 0;
    for (const auto& block : blocks) {
      if (block.source == s) records += static_cast<std::int64_t>(block.frames.size());
    }
    if (auto rate = estimators_[s]->compute(batch_ms, records, info.processing_time.count() / 1000,
                                            info.scheduling_delay.count() / 1000)) {
      limiters_[s]->set_rate(cap(*rate));
    }
  }
  double total = 0;
  for (const auto& limiter : limiters_) total += limiter->rate();
  return total;
}

double RateController::rate(std::size_t i) const {
  MutexLock lock(mu_);
  return i < limiters_.size() ? limiters_[i]->rate() : 0.0;
}

void RateController::close() {
  MutexLock lock(mu_);
  for (auto& limiter : limiters_) limiter->close();
}

}  // namespace sluice::engine
