#include "monitor/result_observer.h"

namespace sluice::monitor {

void ResultObserver::on_results(std::span<const sink::ResultRecord> results) {
  const auto now = Clock::now();
  for (const auto& r : results) {
    if (r.duplicate) continue;
    latency_.observe(r.latency_ms / 1000.0);
    if (r.ok() && !r.top.empty()) labels_.add(r.top.front().index, r.top.front().label, now);
  }
}

}  // namespace sluice::monitor
