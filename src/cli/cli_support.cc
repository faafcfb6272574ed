#include <signal.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/cli_support.h"

namespace sluice::cli {

void setup_logging(const std::string& level, bool quiet) {
  auto logger = spdlog::stderr_color_mt("sluice");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_default_logger(logger);
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::runtime_error(
        fmt::format("--log-level '{}' is not one of trace, debug, info, warn, error, off", level));
  }
  spdlog::set_level(quiet ? spdlog::level::err : parsed);
}

SignalWaiter::SignalWaiter() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int SignalWaiter::wait_for(std::chrono::milliseconds timeout) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1000000)};
  const int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

std::chrono::microseconds parse_duration_us(const std::string& text) {
  std::size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw std::runtime_error(fmt::format("'{}' is not a duration (examples: 500us, 200ms, 1s, 1.5s)", text));
  }
  const std::string unit = text.substr(pos);
  double us = 0;
  if (unit.empty() || unit == "ms") {
    us = value * 1e3;
  } else if (unit == "us") {
    us = value;
  } else if (unit == "s") {
    us = value * 1e6;
  } else if (unit == "m" || unit == "min") {
    us = value * 6e7;
  } else {
    throw std::runtime_error(
        fmt::format("'{}': unknown duration unit '{}' (use us, ms, s or min)", text, unit));
  }
  if (us < 0 || !std::isfinite(us)) throw std::runtime_error(fmt::format("'{}' must not be negative", text));
  return std::chrono::microseconds(static_cast<long long>(std::llround(us)));
}

std::chrono::milliseconds parse_duration(const std::string& text) {
  return std::chrono::milliseconds(std::llround(static_cast<double>(parse_duration_us(text).count()) / 1e3));
}

std::size_t parse_bytes(const std::string& text) {
  std::size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw std::runtime_error(fmt::format("'{}' is not a size (examples: 64MiB, 1GiB, 4096)", text));
  }
  std::string unit = text.substr(pos);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  double mult = 1;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "kib" || unit == "k")
    mult = 1024.0;
  else if (unit == "mib" || unit == "m")
    mult = 1024.0 * 1024;
  else if (unit == "gib" || unit == "g")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "kb")
    mult = 1e3;
  else if (unit == "mb")
    mult = 1e6;
  else if (unit == "gb")
    mult = 1e9;
  else
    throw std::runtime_error(
        fmt::format("'{}': unknown size unit '{}' (use B, KiB, MiB, GiB, KB, MB, GB)", text, unit));
  if (value < 0) throw std::runtime_error(fmt::format("'{}' must not be negative", text));
  return static_cast<std::size_t>(value * mult);
}

void ModelOptions::add_to(CLI::App& app, bool model_required) {
  auto* opt = app.add_option(
      "--model", model, "Model bundle directory (model file + labels + bundle.yaml) or a bare .onnx file");
  if (model_required) opt->required();
  app.add_option("--labels", overrides.labels_path,
                 "Labels file, one per line in output-index order (overrides the bundle's)");
  app.add_option(
      "--preprocess", overrides.preprocess_preset,
      "Preprocessing preset (imagenet: RGB, shorter side 256, center crop 224, ImageNet mean/std; none); "
      "overrides the bundle's");
  app.add_option(
         "--precision", overrides.precision,
         "fp32, bf16, or auto (bf16 when the CPU has AMX or AVX512-BF16); bf16 needs a TorchScript bundle")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  app.add_option("--output-kind", output_kind,
                 "What the model outputs: logits (softmax applied) or probabilities")
      ->check(CLI::IsMember({"logits", "probabilities"}));
}

model::ModelBundle ModelOptions::load() const {
  auto overrides_copy = overrides;
  if (!output_kind.empty()) overrides_copy.output_kind = *model::parse_output_kind(output_kind);
  auto bundle = model::load_bundle(model, overrides_copy);
  if (!bundle) throw std::runtime_error(bundle.status().message());
  return std::move(*bundle);
}

void EngineOptions::add_to(CLI::App& app) {
  app.add_option("--mode", mode,
                 "interval: Spark's micro-batches, one every --batch-interval; continuous: Triton's dynamic "
                 "batching, a batch leaves when --max-batch frames wait or the oldest has waited --max-delay")
      ->check(CLI::IsMember({"interval", "continuous"}))
      ->capture_default_str();
  app.add_option("--max-delay", max_delay,
                 "Continuous mode: the longest a frame waits for its batch to fill (us, ms, s)")
      ->capture_default_str();
  app.add_option("--batch-interval", batch_interval,
                 "Batch interval: a batch is cut this often (Spark's batchDuration); ms, s or min")
      ->capture_default_str();
  app.add_option("--block-interval", block_interval,
                 "Block interval: received frames are cut into blocks (partitions) this often; ms, s or min")
      ->capture_default_str();
  app.add_option("--executors", executors,
                 "Executors, each with its own model session (default: derived from the cores)");
  app.add_option("--cores", cores, "Model threads per executor (default: derived from the cores)");
  app.add_option("--max-batch", max_batch, "Most frames sent to the model in one call")
      ->capture_default_str();
  app.add_option("--top-k", top_k, "Predictions per result line")->capture_default_str();
  app.add_option(
         "--memory-budget", memory_budget,
         "Bound on resident memory (KiB/MiB/GiB). Half of what is left after the models load holds frames "
         "in flight; past it, sources stop reading their sockets and TCP pushes back on producers")
      ->capture_default_str();
  app.add_flag(
         "--jpeg-dct-scaling,!--no-jpeg-dct-scaling", jpeg_dct_scaling,
         "Opt-in: decode a JPEG at 1/2 to 1/8 scale in the DCT domain when the resize target is at most a "
         "quarter of the image (faster, but no longer bit-exact with torchvision/Pillow; top-1 unchanged on "
         "the test photographs)")
      ->capture_default_str();
  app.add_option("--max-pixels", max_pixels, "Largest image accepted, in pixels, checked before decoding")
      ->capture_default_str();
  app.add_flag(
      "--backpressure", backpressure,
      "Rate controller (Spark's spark.streaming.backpressure.enabled): a PID estimator per source sets the "
      "records/s it may store, from each batch's processing rate and scheduling delay");
  app.add_option("--initial-rate", initial_rate,
                 "With --backpressure: records/s per source until the first estimate (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--max-rate", max_rate, "Records/s per source, always enforced (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--min-rate", pid.min_rate, "Lowest rate the PID estimator sets, records/s")
      ->capture_default_str();
  app.add_option("--pid-proportional", pid.proportional, "PID proportional gain")->capture_default_str();
  app.add_option("--pid-integral", pid.integral, "PID integral gain (weighs the scheduling-delay backlog)")
      ->capture_default_str();
  app.add_option("--pid-derivative", pid.derivative, "PID derivative gain")->capture_default_str();
  app.add_option("--storage-level", storage_level,
                 "Where received blocks wait: memory; memory_and_disk (spill a block to --spill-dir when the "
                 "memory budget is over half used, read it back in order); disk (spill every block)")
      ->capture_default_str();
  app.add_option("--spill-dir", spill_dir,
                 "Directory for spilled blocks (needed by memory_and_disk and disk)");
  app.add_option("--disk-budget", disk_budget,
                 "Most spilled bytes on disk at once; past it blocks stay in memory")
      ->capture_default_str();
}

engine::EngineConfig EngineOptions::resolve() const {
  engine::EngineConfig config;
  config.mode = mode == "continuous" ? engine::BatchMode::kContinuous : engine::BatchMode::kInterval;
  config.max_delay = parse_duration_us(max_delay);
  config.batch_interval = parse_duration(batch_interval);
  config.block_interval = parse_duration(block_interval);
  // The default plan: one single-threaded executor per hardware thread. Each executor decodes and
  // then infers, so executors x cores threads never oversubscribe the machine.
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  config.cores = cores > 0 ? cores : 1;
  config.executors = executors > 0 ? executors : std::max(1, hw / config.cores);
  config.max_batch = max_batch;
  config.top_k = top_k;
  config.memory_budget = parse_bytes(memory_budget);
  config.max_pixels = max_pixels;
  config.jpeg_dct_scaling = jpeg_dct_scaling;
  config.backpressure = backpressure;
  config.initial_rate = initial_rate;
  config.max_rate = max_rate;
  config.pid = pid;
  auto level = engine::parse_storage_level(storage_level);
  if (!level) throw std::runtime_error(level.status().message());
  config.spill = {*level, spill_dir, parse_bytes(disk_budget)};
  if (auto st = config.validate(); !st) throw std::runtime_error(st.message());
  return config;
}

std::vector<std::string> split_list(const std::string& option, const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    item = b == std::string::npos ? std::string() : item.substr(b, item.find_last_not_of(" \t") - b + 1);
    if (item.empty())
      throw std::runtime_error(
          fmt::format("{} '{}': an item is empty (give a comma-separated list)", option, text));
    out.push_back(item);
  }
  if (out.empty()) throw std::runtime_error(fmt::format("{} is empty: give a comma-separated list", option));
  return out;
}

}  // namespace sluice::cli
