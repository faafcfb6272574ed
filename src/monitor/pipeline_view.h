// PipelineView: what the observers of a running pipeline read (status, /metrics, the dashboard).
#pragma once

#include <string>
#include <vector>

#include "engine/streaming_context.h"
#include "monitor/batch_history.h"
#include "monitor/result_observer.h"

namespace sluice::monitor {

/// References only: everything must outlive whoever holds the view. `context` must be started.
struct PipelineView {
  engine::StreamingContext& context;
  const BatchHistory& batches;
  const ResultObserver& results;
  /// Conditions an operator should know about, shown by /api/status and the dashboard.
  std::vector<std::string> warnings;
};

}  // namespace sluice::monitor
