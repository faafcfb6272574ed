// sluice bench sweep: the end-to-end measurement of `bench e2e` (maximum rate, then 50 % of it)
// over a grid of engine settings, as CSV and as an SVG chart of throughput and p99 latency against
// the setting (Spark's "scaling with cores per executor" chart).
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/bench_support.h"
#include "cli/cli_support.h"
#include "cli/svg_chart.h"

namespace sluice::cli {
namespace {

constexpr double kSweepLoadPct = 50.0;

struct SweepOptions {
  ModelOptions model;
  BenchInputOptions input;
  std::string mode = "interval";
  std::string executors = "auto";
  std::string cores = "1";
  std::string batch_intervals = "100ms";
  std::string block_interval = "25ms";
  std::string max_batches = "auto";
  std::string max_delays = "5ms";
  std::string memory_budget = EngineOptions{}.memory_budget;  // the same for every configuration
  std::string csv;
  std::string svg;
  bool batch_intervals_given = false;
  bool max_delays_given = false;
};

// A max batch as the sweep's labels show it: 0 is "auto".
std::string batch_label(std::size_t max_batch) {
  return max_batch == 0 ? std::string("auto") : std::to_string(max_batch);
}

// "1,2,4": positive integers. "auto" (alone) stands for 0: the engine's default.
std::vector<long long> parse_counts(const std::string& option, const std::string& text, bool allow_auto) {
  std::vector<long long> out;
  for (const auto& item : split_list(option, text)) {
    if (allow_auto && item == "auto") {
      out.push_back(0);
      continue;
    }
    if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 9) {
      throw std::runtime_error(fmt::format(
          "{}: '{}' is not a positive integer (give a comma-separated list, e.g. 1,2)", option, item));
    }
    const long long v = std::stoll(item);
    if (v < 1)
      throw std::runtime_error(
          fmt::format("{}: {} is not allowed: each value must be at least 1", option, item));
    out.push_back(v);
  }
  return out;
}

std::vector<std::chrono::microseconds> parse_durations(const std::string& option, const std::string& text,
                                                       std::chrono::microseconds min) {
  std::vector<std::chrono::microseconds> out;
  for (const auto& item : split_list(option, text)) {
    std::chrono::microseconds d{0};
    try {
      d = parse_duration_us(item);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: {}", option, e.what()));
    }
    if (d < min) {
      throw std::runtime_error(fmt::format("{}: {} is not allowed: each value must be at least {}", option,
                                           item, duration_label(min)));
    }
    out.push_back(d);
  }
  return out;
}

// One configuration of the grid.
struct Point {
  EngineOptions engine;
  PipelineConfig config;
  std::string label;  // "2x1 100ms" (interval) or "2x1 b32 5ms" (continuous)
};

std::vector<Point> build_grid(const SweepOptions& o) {
  const bool continuous = o.mode == "continuous";
  if (continuous && o.batch_intervals_given)
    throw std::runtime_error(
        "--batch-intervals applies to --mode interval; in continuous mode give --max-delays");
  if (!continuous && o.max_delays_given)
    throw std::runtime_error(
        "--max-delays applies to --mode continuous; in interval mode give --batch-intervals");
  const auto executors = parse_counts("--executors", o.executors, /*allow_auto=*/true);
  const auto cores = parse_counts("--cores", o.cores, false);
  const auto max_batches = parse_counts("--max-batches", o.max_batches, /*allow_auto=*/true);
  std::vector<std::chrono::microseconds> waits;
  if (continuous) {
    waits = parse_durations("--max-delays", o.max_delays, std::chrono::microseconds(0));
  } else {
    waits = parse_durations("--batch-intervals", o.batch_intervals, std::chrono::milliseconds(1));
  }
  std::chrono::microseconds block{0};
  try {
    block = parse_duration_us(o.block_interval);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("--block-interval: {}", e.what()));
  }
  if (block < std::chrono::milliseconds(1)) throw std::runtime_error("--block-interval must be at least 1ms");

  std::vector<Point> grid;
  for (const auto e : executors) {
    for (const auto c : cores) {
      for (const auto b : max_batches) {
        for (const auto w : waits) {
          Point p;
          p.engine.mode = o.mode;
          p.engine.executors = static_cast<int>(e);
          p.engine.cores = static_cast<int>(c);
          p.engine.max_batch = static_cast<std::size_t>(b);
          p.engine.memory_budget = o.memory_budget;
          if (continuous) {
            p.engine.max_delay = fmt::format("{}us", w.count());
          } else {
            p.engine.batch_interval = fmt::format("{}us", w.count());
            // A block interval longer than the batch interval is cut to it.
            p.engine.block_interval = fmt::format("{}us", std::min(block, w).count());
          }
          try {
            p.config = p.engine.resolve();
          } catch (const std::exception& ex) {
            throw std::runtime_error(fmt::format("configuration executors={} cores={} max batch={} {}: {}",
                                                 e ? std::to_string(e) : "auto", c, b, duration_label(w),
                                                 ex.what()));
          }
          p.label =
              continuous
                  ? fmt::format("{}x{} b{} {}", p.config.executors, p.config.cores,
                                batch_label(p.config.max_batch), duration_label(w))
                  : (max_batches.size() > 1
                         ? fmt::format("{}x{} b{} {}", p.config.executors, p.config.cores,
                                       batch_label(p.config.max_batch), duration_label(w))
                         : fmt::format("{}x{} {}", p.config.executors, p.config.cores, duration_label(w)));
          grid.push_back(std::move(p));
        }
      }
    }
  }
  return grid;
}

struct SweepRow {
  const Point* point = nullptr;
  RunStats max;
  RunStats load;
  std::size_t max_batch = 0;  // as the pipeline resolved it ("auto": derived from the model's input)
};

int run_sweep(SweepOptions opts) {
  SignalWaiter signals;  // first: every thread started later has SIGINT/SIGTERM blocked
  InterruptFlag interrupt(signals);
  setup_logging(opts.input.log_level, false);
  opts.input.validate();
  if (opts.csv.empty()) throw std::runtime_error("--csv FILE is required");
  if (opts.svg.empty()) throw std::runtime_error("--svg FILE is required");
  const auto grid = build_grid(opts);
  const auto bundle = opts.model.load();
  const auto frames = load_bench_frames(opts.input.images, opts.input.idx, opts.input.limit);
  const bool continuous = opts.mode == "continuous";

  std::vector<SweepRow> rows;
  try {
    for (std::size_t i = 0; i < grid.size(); ++i) {
      const auto& point = grid[i];
      std::fprintf(stderr, "configuration %zu/%zu: %s\n", i + 1, grid.size(), point.label.c_str());
      LoopbackRunner runner(point.config, bundle, frames, opts.input.settings(), interrupt.flag());
      runner.start();
      runner.warm_up();
      SweepRow row;
      row.point = &point;
      row.max_batch = runner.config().max_batch;
      row.max = runner.run_max();
      row.load = runner.run_load(kSweepLoadPct, row.max.throughput_fps);
      rows.push_back(std::move(row));
    }
  } catch (const Interrupted&) {
    std::fprintf(stderr, "sluice bench sweep: interrupted\n");
    return 130;
  }

  std::string csv =
      "config,mode,executors,cores,batch_interval_ms,block_interval_ms,max_batch,max_delay_ms,max_frames,"
      "max_throughput_fps,load_pct,offered_fps,load_frames,load_throughput_fps,p50_ms,p90_ms,p99_ms,mean_"
      "batch,"
      "frames_per_call,batch_ms,latency_bound_ms,bound_met\n";
  std::printf("%-18s %12s %10s %12s %8s %8s %8s %9s %9s %9s  %s\n", "config", "max frames/s", "offered/s",
              "results/s", "p50 ms", "p90 ms", "p99 ms", "frames/b", "batch ms", "bound ms", "p99 <= bound");
  DualAxisChart chart;
  chart.title =
      fmt::format("sluice: throughput and p99 latency at {:g} % load, {} mode", kSweepLoadPct, opts.mode);
  chart.x_title = continuous ? "configuration: executors x cores, max batch, max delay"
                             : "configuration: executors x cores, batch interval";
  chart.left.name = "max throughput (frames/s)";
  chart.left_axis_title = "throughput, frames/s";
  chart.right.name = fmt::format("p99 latency at {:g} % load (ms)", kSweepLoadPct);
  chart.right_axis_title = fmt::format("p99 latency at {:g} % load, ms", kSweepLoadPct);
  for (const auto& row : rows) {
    const auto& c = row.point->config;
    const auto& l = row.load;
    std::printf("%-18s %12.0f %10.0f %12.0f %8.1f %8.1f %8.1f %9.1f %9.2f %9.1f  %s\n",
                row.point->label.c_str(), row.max.throughput_fps, l.offered_fps, l.throughput_fps, l.p50_ms,
                l.p90_ms, l.p99_ms, l.mean_batch, l.batch_ms, l.latency_bound_ms,
                l.bound_met() ? "met" : "NOT met");
    csv += fmt::format(
        "{},{},{},{},{},{},{},{},{},{:.1f},{:g},{:.1f},{},{:.1f},{:.3f},{:.3f},{:.3f},{:.2f},{:.2f},{:.3f},{:"
        ".3f},{}\n",
        row.point->label, opts.mode, c.executors, c.cores,
        continuous ? "" : std::to_string(c.batch_interval.count()),
        continuous ? "" : std::to_string(c.block_interval.count()), row.max_batch,
        continuous ? fmt::format("{:g}", static_cast<double>(c.max_delay.count()) / 1000.0) : "",
        row.max.frames, row.max.throughput_fps, kSweepLoadPct, l.offered_fps, l.frames, l.throughput_fps,
        l.p50_ms, l.p90_ms, l.p99_ms, l.mean_batch, l.frames_per_call, l.batch_ms, l.latency_bound_ms,
        l.bound_met() ? "yes" : "no");
    chart.x_labels.push_back(row.point->label);
    chart.left.values.push_back(row.max.throughput_fps);
    chart.right.values.push_back(l.p99_ms);
  }
  {
    std::ofstream out(opts.csv);
    out << csv;
    if (!out) throw std::runtime_error(fmt::format("--csv {}: cannot write the file", opts.csv));
  }
  {
    std::ofstream out(opts.svg);
    out << render_svg(chart);
    if (!out) throw std::runtime_error(fmt::format("--svg {}: cannot write the file", opts.svg));
  }
  std::printf("wrote %s and %s\n", opts.csv.c_str(), opts.svg.c_str());
  return 0;
}

}  // namespace

void register_bench_sweep(CLI::App& bench) {
  auto opts = std::make_shared<SweepOptions>();
  auto* cmd = bench.add_subcommand(
      "sweep",
      "The e2e measurement (maximum rate, then latency at 50 % of it) over a grid of engine settings; writes "
      "CSV and an SVG chart of throughput and p99 latency against the setting");
  opts->model.add_to(*cmd, /*model_required=*/true);
  opts->input.add_to(*cmd);
  cmd->add_option("--mode", opts->mode,
                  "interval (grid: --batch-intervals) or continuous (grid: --max-delays)")
      ->check(CLI::IsMember({"interval", "continuous"}))
      ->capture_default_str();
  cmd->add_option("--executors", opts->executors,
                  "Executor counts to sweep, comma-separated (auto: hardware threads / cores)")
      ->capture_default_str();
  cmd->add_option("--cores", opts->cores, "Cores (model threads) per executor to sweep, comma-separated")
      ->capture_default_str();
  auto* intervals = cmd->add_option("--batch-intervals", opts->batch_intervals,
                                    "Interval mode: batch intervals to sweep, comma-separated (ms, s)")
                        ->capture_default_str();
  cmd->add_option("--block-interval", opts->block_interval,
                  "Interval mode: block interval (cut to the batch interval when longer)")
      ->capture_default_str();
  cmd->add_option("--max-batches", opts->max_batches,
                  "Most frames per model call, values to sweep, comma-separated (auto: derived from the "
                  "model's input, as serve does)")
      ->capture_default_str();
  auto* delays = cmd->add_option("--max-delays", opts->max_delays,
                                 "Continuous mode: max delays to sweep, comma-separated (us, ms, s)")
                     ->capture_default_str();
  cmd->add_option("--memory-budget", opts->memory_budget,
                  "Bound on resident memory of every configuration (KiB/MiB/GiB), as for serve")
      ->capture_default_str();
  cmd->add_option("--csv", opts->csv, "Write one row per configuration to this CSV file")->required();
  cmd->add_option("--svg", opts->svg, "Write the chart to this SVG file")->required();
  cmd->callback([opts, intervals, delays] {
    opts->batch_intervals_given = intervals->count() > 0;
    opts->max_delays_given = delays->count() > 0;
    if (const int rc = run_sweep(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
