// Shared pieces of the sluice command: logging set-up, signal handling, option parsers.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "model/model_bundle.h"
#include "sluice/pipeline_config.h"
#include "sluice/status.h"

namespace sluice::cli {

/// Logging to stderr through spdlog. `quiet` keeps errors only.
void setup_logging(const std::string& level, bool quiet);

/// Blocks SIGINT and SIGTERM in every thread created after it, so they can be awaited here.
class SignalWaiter {
 public:
  SignalWaiter();
  /// Waits up to `timeout` for SIGINT/SIGTERM; returns the signal number or 0.
  int wait_for(std::chrono::milliseconds timeout);
};

/// The value, or a std::runtime_error with the status's message (the CLI's edge).
template <typename T>
T value_or_throw(Result<T> result) {
  if (!result) throw std::runtime_error(result.status().message());
  return std::move(*result);
}

/// util/quantity.h's grammar, throwing: "250ms", "1s", "1.5s", or a bare number of milliseconds.
std::chrono::milliseconds parse_duration(const std::string& text);
/// The same, to the microsecond ("500us" too).
std::chrono::microseconds parse_duration_us(const std::string& text);
/// "512MiB", "64MB", "1GiB", "4096" (bytes).
std::size_t parse_bytes(const std::string& text);

/// An engine message ("the block interval (300 ms) must not exceed ...") with the options it is
/// about appended: "(--block-interval, --batch-interval)".
std::string with_option_names(const std::string& message);

/// "a, b,c": the trimmed items of a comma-separated option value. Throws, naming `option`, when
/// the list or one of its items is empty.
std::vector<std::string> split_list(const std::string& option, const std::string& text);

/// The model options shared by serve, worker, demo and the benchmarks.
struct ModelOptions {
  std::string model;
  model::BundleOverrides overrides;
  std::string output_kind;
  void add_to(CLI::App& app, bool model_required);
  /// Sets config.model, labels, preprocess, precision and output_kind.
  void apply_to(PipelineConfig& config) const;
  model::ModelBundle load() const;  // throws std::runtime_error with the reason
};

/// The engine options shared by serve, worker, demo and the benchmarks; durations and sizes as
/// text until resolved.
struct EngineOptions {
  std::string batch_interval = "1s";
  std::string block_interval;  // empty: the smaller of 200ms and the batch interval
  int executors = 0;           // 0 = derived from the core count
  int cores = 0;
  std::size_t max_batch = 0;  // 0: derived from the model's input
  int top_k = 5;
  std::string memory_budget = "512MiB";
  std::uint64_t max_pixels = 64ull << 20;
  bool backpressure = false;
  double initial_rate = 0.0;
  double max_rate = 0.0;
  PidSettings pid;
  bool jpeg_dct_scaling = false;  // opt-in: not exact
  std::string mode = "interval";
  std::string max_delay = "5ms";
  std::string storage_level = "memory";
  std::string spill_dir;
  std::string disk_budget = "8GiB";
  void add_to(CLI::App& app);
  /// The engine part of a PipelineConfig (batching, plan, limits, rate control, storage), checked
  /// with its derived defaults (left for the pipeline to fill in); memory_budget is the
  /// resident-memory bound.
  /// Throws std::runtime_error on a bad value.
  PipelineConfig resolve(PipelineConfig base = {}) const;
};

void register_serve(CLI::App& app);
void register_send(CLI::App& app);
void register_demo(CLI::App& app);
void register_bench(CLI::App& app);
/// `sluice config --print`. Register it last: it builds a second app with `add_commands` (the
/// function that registers every command, itself included) and adds --config to the commands.
void register_config(CLI::App& app, const std::function<void(CLI::App&)>& add_commands);

}  // namespace sluice::cli
