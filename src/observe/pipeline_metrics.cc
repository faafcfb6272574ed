#include "observe/pipeline_metrics.h"

namespace sluice::observe {

std::map<std::string, std::uint64_t> PipelineMetrics::error_lines_by_reason() const {
  std::map<std::string, std::uint64_t> out;
  for (std::size_t i = 0; i < error_lines_.size(); ++i) {
    if (const auto n = error_lines_[i].load(std::memory_order_relaxed))
      out[code_name(static_cast<Code>(i))] = n;
  }
  return out;
}

}  // namespace sluice::observe
