#include "engine/config_rules.h"

#include <algorithm>

#include <fmt/format.h>

namespace sluice::engine {

PipelineConfig with_defaults(PipelineConfig config, std::string* plan_reason) {
  if (config.block_interval.count() == 0) {
    config.block_interval = std::min(std::chrono::milliseconds(200), config.batch_interval);
  }
  const auto plan = plan_threads(config.executors, config.cores);
  config.executors = plan.executors;
  config.cores = plan.cores;
  if (plan_reason != nullptr) *plan_reason = plan.reason;
  return config;
}

Status validate(const PipelineConfig& c) {
  auto bad = [](std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); };
  if (c.model.empty()) return bad("no model: give a bundle directory or an .onnx file");
  if (c.dedup && c.output.empty()) return bad("dedup needs an output file");
  if ((c.dedup || c.append || !c.wal_dir.empty()) && c.output == "-") {
    return bad("dedup, append and a write-ahead log need an output file, not stdout");
  }
  return validate_engine(c);
}

Status validate_engine(const PipelineConfig& c) {
  auto bad = [](std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); };
  if (c.batch_interval.count() <= 0) return bad("the batch interval must be positive");
  if (c.block_interval.count() < 0) return bad("the block interval must not be negative");
  if (c.block_interval > c.batch_interval) {
    return bad(fmt::format("the block interval ({} ms) must not exceed the batch interval ({} ms)",
                           c.block_interval.count(), c.batch_interval.count()));
  }
  if (c.executors < 0 || c.cores < 0) return bad("executors and cores must not be negative");
  if (c.top_k < 1) return bad("top-k must be at least 1");
  if (c.memory_budget < (1u << 20)) return bad("the memory budget must be at least 1 MiB");
  if (c.mode == BatchMode::kContinuous && c.backpressure) {
    return bad(
        "backpressure (the PID rate controller) works on batch intervals: use it in interval mode; in "
        "continuous "
        "mode the memory budget is the backpressure");
  }
  if (c.max_delay.count() < 0) return bad("the max delay must not be negative");
  if (c.storage_level != StorageLevel::kMemory && c.spill_dir.empty()) {
    return bad("the storage levels memory_and_disk and disk need a spill directory");
  }
  if (c.initial_rate < 0 || c.max_rate < 0 || c.pid.min_rate <= 0) {
    return bad("the initial and max rates must be >= 0, and the min rate > 0");
  }
  if (c.max_frame_bytes == 0 || c.max_frame_bytes > static_cast<std::uint64_t>(INT32_MAX)) {
    return bad(
        "the max frame size must be between 1 and 2147483647 bytes (the wire format's signed 32-bit length)");
  }
  if (c.idle_timeout.count() <= 0) return bad("the idle timeout must be positive");
  return Status::ok();
}

}  // namespace sluice::engine
