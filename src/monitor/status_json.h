// The JSON documents of /api/status and /api/batches (their fields are listed in README.md).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "engine/streaming_context.h"
#include "monitor/batch_history.h"
#include "monitor/pipeline_status.h"

namespace sluice::monitor {

/// /api/status: totals, rates, latency, queue, memory, sources, failures, labels and the plan.
nlohmann::json status_json(const PipelineStatus& status, const engine::StreamingContext& context);
/// /api/batches: the given batches, oldest first; times in ms, wall-clock time in ms since the epoch.
nlohmann::json batches_json(const std::vector<BatchRecord>& batches,
                            std::chrono::milliseconds batch_interval);

}  // namespace sluice::monitor
