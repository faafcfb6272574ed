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
#include "engine/block_store.h"
#include "engine/config_rules.h"
#include "util/quantity.h"

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
  return value_or_throw(sluice::parse_duration(text));
}

std::chrono::milliseconds parse_duration(const std::string& text) {
  return value_or_throw(sluice::parse_duration_ms(text));
}

std::size_t parse_bytes(const std::string& text) {
  return static_cast<std::size_t>(value_or_throw(sluice::parse_size(text)));
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

void ModelOptions::apply_to(PipelineConfig& config) const {
  config.model = model;
  config.labels = overrides.labels_path.value_or("");
  config.preprocess = overrides.preprocess_preset.value_or("");
  config.precision = overrides.precision.value_or("");
  config.output_kind = output_kind;
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
                 "Block interval: received frames are cut into blocks (partitions) this often; ms, s or min "
                 "(default: the smaller of 200ms and --batch-interval)");
  app.add_option("--executors", executors,
                 "Executors, each with its own model session (default: derived from the cores)");
  app.add_option("--cores", cores, "Model threads per executor (default: derived from the cores)");
  app.add_option(
         "--max-batch", max_batch,
         "Most frames sent to the model in one call (default 0: derived from the model's input, 64 for "
         "small inputs such as 28x28, 8 for 224x224 and larger, whose working memory grows fast with "
         "the batch)")
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

PipelineConfig EngineOptions::resolve(PipelineConfig config) const {
  config.mode = mode == "continuous" ? BatchMode::kContinuous : BatchMode::kInterval;
  config.max_delay = parse_duration_us(max_delay);
  config.batch_interval = parse_duration(batch_interval);
  config.block_interval =
      block_interval.empty() ? std::chrono::milliseconds(0) : parse_duration(block_interval);
  if (!block_interval.empty() && config.block_interval.count() <= 0) {
    throw std::runtime_error("--block-interval must be positive");
  }
  config.executors = executors;
  config.cores = cores;
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
  config.storage_level = *level;
  config.spill_dir = spill_dir;
  config.disk_budget = parse_bytes(disk_budget);
  config = engine::with_defaults(std::move(config));
  if (auto st = engine::validate_engine(config); !st)
    throw std::runtime_error(with_option_names(st.message()));
  return config;
}

std::string with_option_names(const std::string& message) {
  // The engine words its rules for any caller; on the command line, name the options too.
  static const std::pair<const char*, const char*> kOptions[] = {
      {"the block interval", "--block-interval"},
      {"the batch interval", "--batch-interval"},
      {"the max batch", "--max-batch"},
      {"the memory budget", "--memory-budget"},
      {"top-k", "--top-k"},
      {"the max delay", "--max-delay"},
      {"backpressure", "--backpressure"},
      {"a spill directory", "--spill-dir"},
      {"the max frame size", "--max-frame-bytes"},
      {"the idle timeout", "--idle-timeout"},
  };
  std::string options;
  for (const auto& [words, option] : kOptions) {
    if (message.find(words) != std::string::npos)
      options += options.empty() ? option : std::string(", ") + option;
  }
  return options.empty() ? message : fmt::format("{} ({})", message, options);
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
