#include "observe/pipeline_metrics.h"

namespace sluice::observe {

void PipelineMetrics::count_failure(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++failures_[reason];
}

std::map<std::string, std::uint64_t> PipelineMetrics::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace sluice::observe
