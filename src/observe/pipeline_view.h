// PipelineView: what the observers of a running pipeline read (status, /metrics, the dashboard).
#pragma once

#include "engine/streaming_context.h"
#include "observe/batch_history.h"
#include "observe/result_observer.h"

namespace sluice::observe {

/// References only: everything must outlive whoever holds the view. `context` must be started.
struct PipelineView {
  engine::StreamingContext& context;
  const BatchHistory& batches;
  const ResultObserver& results;
};

}  // namespace sluice::observe
