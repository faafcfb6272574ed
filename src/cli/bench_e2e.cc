// sluice bench e2e: the whole pipeline in one process, against baselines measured in the same run.
// The maximum end-to-end rate over loopback TCP, then latency percentiles at chosen fractions of it,
// next to the machine's limit for this design: every image is decoded once and inferred once, so
// cores / (decode-alone core-ms + raw-inference core-ms) images/s is the most any plan can reach.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/bench_support.h"
#include "cli/cli_support.h"

namespace sluice::cli {
namespace {

struct E2eOptions {
  ModelOptions model;
  EngineOptions engine;
  BenchInputOptions input;
  std::string loads = "25,50,75,90";
  double baseline_seconds = 2.0;
  std::string csv;
};

// "25,50,75,90": percentages of the measured maximum, each in (0, 100].
std::vector<double> parse_loads(const std::string& text) {
  std::vector<double> out;
  for (const auto& item : split_list("--loads", text)) {
    std::size_t pos = 0;
    double v = 0;
    try {
      v = std::stod(item, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != item.size() || !std::isfinite(v))
      throw std::runtime_error(
          fmt::format("--loads: '{}' is not a number (give percentages, e.g. 25,50,75,90)", item));
    if (!(v > 0.0 && v <= 100.0)) {
      throw std::runtime_error(fmt::format(
          "--loads: {} is out of range: each load is a percentage of the measured maximum throughput, "
          "greater than 0 and at most 100",
          item));
    }
    out.push_back(v);
  }
  return out;
}

std::string mode_text(const PipelineConfig& c) {
  if (c.mode == BatchMode::kContinuous) {
    return fmt::format("continuous mode: max batch {}, max delay {}", c.max_batch,
                       duration_label(c.max_delay));
  }
  return fmt::format("interval mode: batch interval {} ms, block interval {} ms, max batch {}",
                     c.batch_interval.count(), c.block_interval.count(), c.max_batch);
}

int run_e2e(E2eOptions opts) {
  SignalWaiter signals;  // first: every thread started later has SIGINT/SIGTERM blocked
  InterruptFlag interrupt(signals);
  const auto& cancel = interrupt.flag();
  setup_logging(opts.input.log_level, false);
  opts.input.validate();
  const auto loads = parse_loads(opts.loads);
  if (!(opts.baseline_seconds > 0) || !std::isfinite(opts.baseline_seconds))
    throw std::runtime_error("--baseline-seconds must be a positive number of seconds");
  const auto config = opts.engine.resolve();
  const auto bundle = opts.model.load();
  const auto frames = load_bench_frames(opts.input.images, opts.input.idx, opts.input.limit);

  try {
    // 1a. Decode + preprocess on one thread, as an executor does it.
    std::fprintf(stderr, "baseline: decode + preprocess on one thread over %zu images...\n",
                 frames.frames.size());
    std::vector<std::span<const std::uint8_t>> payloads;
    payloads.reserve(frames.frames.size());
    for (const auto& f : frames.frames) payloads.emplace_back(f.payload);
    const auto decode = time_decode_preprocess(bundle, payloads, config.jpeg_dct_scaling, config.max_pixels,
                                               opts.baseline_seconds, &cancel);
    // 1b. Decode alone (libjpeg-turbo or libpng, full size), on one thread.
    std::fprintf(stderr, "baseline: decode alone on one thread...\n");
    const auto channels = bundle.preprocess ? bundle.preprocess->channels() : 3;
    const auto decode_alone =
        time_decode_alone(payloads, channels, config.max_pixels, opts.baseline_seconds, &cancel);

    // 2 and 3. The pipeline: maximum rate, then each load.
    std::vector<RunStats> rows;
    std::string model_description;
    PipelineConfig plan;  // as the pipeline resolved it at load (the max batch may be derived)
    {
      LoopbackRunner runner(config, bundle, frames, opts.input.settings(), cancel);
      runner.start();
      model_description = runner.model_description();
      plan = runner.config();
      std::fprintf(stderr, "pipeline: %d executor(s) x %d core(s), %s\n", plan.executors, plan.cores,
                   mode_text(plan).c_str());
      runner.warm_up();
      rows.push_back(runner.run_max());
      for (const double pct : loads) rows.push_back(runner.run_load(pct, rows.front().throughput_fps));
    }

    // 1c. Raw inference at the batch size the pipeline used, on one thread: its core-ms per image.
    const auto batch = static_cast<std::size_t>(std::clamp<long long>(
        std::llround(rows.front().frames_per_call), 1, static_cast<long long>(plan.max_batch)));
    std::fprintf(stderr, "baseline: raw inference at batch %zu on one thread...\n", batch);
    std::string backend_description;
    const auto infer = time_inference(bundle, batch, 1, opts.baseline_seconds, &cancel, &backend_description);
    const unsigned machine_cores = std::max(1u, std::thread::hardware_concurrency());
    const double limit = 1000.0 * machine_cores / (decode_alone.ms_per_item() + infer.ms_per_item());

    std::printf("sluice bench e2e\n");
    std::printf("model:     %s\n", model_description.c_str());
    std::printf("pipeline:  %d executor(s) x %d core(s), %s\n", plan.executors, plan.cores,
                mode_text(plan).c_str());
    std::printf("frames:    %zu images (%s), %d loopback TCP connection(s)\n", frames.frames.size(),
                opts.input.images.empty() ? opts.input.idx.c_str() : opts.input.images.c_str(),
                opts.input.connections);
    std::printf("\nbaselines (same run, same images):\n");
    std::printf("  decode alone, 1 thread:                 %9.4f ms/image %10.0f images/s\n",
                decode_alone.ms_per_item(), decode_alone.per_second());
    std::printf(
        "  decode + preprocess, 1 thread:          %9.4f ms/image %10.0f images/s  (DCT scaling %s; %.2fx "
        "decode "
        "alone)\n",
        decode.ms_per_item(), decode.per_second(), config.jpeg_dct_scaling ? "on" : "off",
        decode.ms_per_item() / decode_alone.ms_per_item());
    std::printf("  raw inference, batch %-3zu 1 thread:      %9.4f ms/image %10.0f images/s  (%s)\n", batch,
                infer.ms_per_item(), infer.per_second(), backend_description.c_str());
    std::printf("  limit %u core(s) / (decode alone + inference):             %10.0f images/s\n\n",
                machine_cores, limit);

    std::printf("%-5s %6s %10s %8s %12s %8s %8s %8s %8s %9s %8s %9s %9s  %s\n", "run", "load%", "offered/s",
                "frames", "results/s", "p50 ms", "p90 ms", "p99 ms", "batches", "frames/b", "calls/b",
                "batch ms", "bound ms", "p99 <= bound");
    std::string csv =
        "run,offered_load_pct,offered_fps,frames,results,errors,throughput_fps,p50_ms,p90_ms,p99_ms,batches,"
        "mean_batch,frames_per_call,batch_ms,latency_bound_ms,bound_met,decode_ms,decode_alone_ms,infer_ms,"
        "infer_batch,cores,limit_fps,ratio_to_limit\n";
    bool all_met = true;
    std::uint64_t errors = 0;
    for (const auto& r : rows) {
      const bool is_max = r.run == "max";
      const double calls_per_batch =
          r.batches ? static_cast<double>(r.model_calls) / static_cast<double>(r.batches) : 0.0;
      std::printf("%-5s %6s %10s %8llu %12.0f %8.1f %8.1f %8.1f %8llu %9.1f %8.1f %9.2f %9s  %s\n",
                  r.run.c_str(), is_max ? "-" : fmt::format("{:.0f}", r.offered_load_pct).c_str(),
                  is_max ? "-" : fmt::format("{:.0f}", r.offered_fps).c_str(),
                  static_cast<unsigned long long>(r.frames), r.throughput_fps, r.p50_ms, r.p90_ms, r.p99_ms,
                  static_cast<unsigned long long>(r.batches), r.mean_batch, calls_per_batch, r.batch_ms,
                  is_max ? "-" : fmt::format("{:.1f}", r.latency_bound_ms).c_str(),
                  is_max ? "-" : (r.bound_met() ? "met" : "NOT met"));
      if (!is_max) all_met = all_met && r.bound_met();
      errors += r.errors;
      csv += fmt::format(
          "{},{},{},{},{},{},{:.1f},{:.3f},{:.3f},{:.3f},{},{:.2f},{:.2f},{:.3f},{},{},{:.5f},{:.5f},{:.5f},{"
          "},"
          "{},{:.1f},{:.4f}\n",
          r.run, is_max ? "" : fmt::format("{:g}", r.offered_load_pct),
          is_max ? "" : fmt::format("{:.1f}", r.offered_fps), r.frames, r.results, r.errors, r.throughput_fps,
          r.p50_ms, r.p90_ms, r.p99_ms, r.batches, r.mean_batch, r.frames_per_call, r.batch_ms,
          is_max ? "" : fmt::format("{:.3f}", r.latency_bound_ms),
          is_max ? "" : (r.bound_met() ? "yes" : "no"), decode.ms_per_item(), decode_alone.ms_per_item(),
          infer.ms_per_item(), batch, machine_cores, limit, r.throughput_fps / limit);
    }
    const double e2e_max = rows.front().throughput_fps;
    std::printf("\ne2e max / limit: %.2f  (%.0f / %.0f images/s)\n", e2e_max / limit, e2e_max, limit);
    std::printf("latency bound: %s + 2 x mean per-batch %s time; %s\n",
                plan.mode == BatchMode::kContinuous ? "max delay" : "batch interval",
                plan.mode == BatchMode::kContinuous ? "compute" : "processing",
                all_met ? "met at every load" : "NOT met at every load");
    if (errors > 0) {
      std::fprintf(stderr,
                   "warning: %llu frame(s) got an error line instead of a prediction (counted in the errors "
                   "column)\n",
                   static_cast<unsigned long long>(errors));
    }
    if (!opts.csv.empty()) {
      std::ofstream out(opts.csv);
      out << csv;
      if (!out) throw std::runtime_error(fmt::format("--csv {}: cannot write the file", opts.csv));
      std::printf("wrote %s\n", opts.csv.c_str());
    }
  } catch (const Interrupted&) {
    std::fprintf(stderr, "sluice bench e2e: interrupted\n");
    return 130;
  }
  return 0;
}

}  // namespace

void register_bench_e2e(CLI::App& bench) {
  auto opts = std::make_shared<E2eOptions>();
  auto* cmd = bench.add_subcommand(
      "e2e",
      "End to end in one process: the maximum frames/s over loopback TCP, latency "
      "p50/p90/p99 at fractions of "
      "it, and the machine's limit cores / (decode alone + raw inference, core-ms per image) measured "
      "in the same run");
  opts->model.add_to(*cmd, /*model_required=*/true);
  opts->input.add_to(*cmd);
  cmd->add_option("--loads", opts->loads,
                  "Offered loads, in percent of the measured maximum throughput, each in (0, 100]")
      ->capture_default_str();
  cmd->add_option("--baseline-seconds", opts->baseline_seconds,
                  "Measuring time of each baseline (decode + preprocess, decode alone, raw inference), in "
                  "seconds")
      ->capture_default_str();
  cmd->add_option("--csv", opts->csv, "Also write the figures to this CSV file");
  // Short runs need short intervals to be measured (as in demo).
  opts->engine.batch_interval = "100ms";
  opts->engine.block_interval = "25ms";
  opts->engine.add_to(*cmd);
  cmd->callback([opts] {
    if (const int rc = run_e2e(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
