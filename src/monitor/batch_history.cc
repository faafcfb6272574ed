#include "monitor/batch_history.h"

#include <algorithm>

namespace sluice::monitor {
namespace {
double seconds(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1e6;
}
}  // namespace

BatchHistory::BatchHistory(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}

void BatchHistory::on_batch_completed(const engine::BatchInfo& info) {
  processing_time_.observe(seconds(info.processing_time));
  scheduling_delay_.observe(seconds(info.scheduling_delay));
  total_delay_.observe(seconds(info.total_delay));
  // The batch time is on the steady clock; the dashboard draws wall-clock time.
  const auto age =
      std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - info.batch_time);
  BatchRecord record{info, std::chrono::system_clock::now() - age};
  MutexLock lock(mu_);
  batches_.push_back(record);
  while (batches_.size() > capacity_) batches_.pop_front();
}

std::vector<BatchRecord> BatchHistory::latest(std::size_t n) const {
  MutexLock lock(mu_);
  const std::size_t take = std::min(n, batches_.size());
  return {batches_.end() - static_cast<std::ptrdiff_t>(take), batches_.end()};
}

}  // namespace sluice::monitor
