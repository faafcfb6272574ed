// The /metrics page: the pipeline's counters, gauges and histograms in the Prometheus text format.
#pragma once

#include <string>

#include "monitor/pipeline_view.h"

namespace sluice::http {

/// Renders every metric of `view`. Names follow Prometheus' conventions: base units (seconds,
/// bytes) in the name, _total on counters.
std::string render_metrics(const monitor::PipelineView& view);

}  // namespace sluice::http
