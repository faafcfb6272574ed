// The rules a PipelineConfig must follow, and the defaults that depend on other settings.
#pragma once

#include "engine/thread_plan.h"
#include "sluice/pipeline_config.h"
#include "sluice/status.h"

namespace sluice::engine {

/// Fills what was left to be derived: the block interval (the smaller of 200 ms and the batch
/// interval), executors and cores (the thread plan, whose reason goes to `plan_reason`).
PipelineConfig with_defaults(PipelineConfig config, std::string* plan_reason = nullptr);

/// Checks the engine's ranges and relations (batching, plan, limits, rate control, storage).
/// Messages name the setting in words ("the block interval"), not a command-line option: the
/// command line adds its own.
Status validate_engine(const PipelineConfig& config);
/// validate_engine, and the model and the output.
Status validate(const PipelineConfig& config);

}  // namespace sluice::engine
