// sluice bench: measurements that a result can be compared against in the same run.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include <fmt/format.h>

#include "cli/bench_support.h"
#include "cli/cli_support.h"
#include "model/backend.h"

namespace sluice::cli {
namespace {

struct BackendBenchOptions {
  ModelOptions model;
  std::string batch_sizes = "1,8,64";
  int threads = 0;  // 0 = every hardware thread
  double seconds = 3.0;
  std::string csv;
};

std::vector<std::size_t> parse_sizes(const std::string& text) {
  std::vector<std::size_t> out;
  for (const auto& item : split_list("--batch-sizes", text)) {
    const auto n = std::stoul(item);
    if (n == 0) throw std::runtime_error("--batch-sizes must be positive integers, e.g. 1,8,64");
    out.push_back(n);
  }
  return out;
}

int run_backend_bench(const BackendBenchOptions& opts) {
  setup_logging("warn", false);
  const auto bundle = opts.model.load();
  const auto sizes = parse_sizes(opts.batch_sizes);
  const int threads =
      opts.threads > 0 ? opts.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::size_t max_batch = *std::max_element(sizes.begin(), sizes.end());
  auto backend = model::create_backend(bundle, {threads, max_batch});
  if (!backend) throw std::runtime_error(backend.status().to_string());
  std::printf("%s\n", (*backend)->describe().c_str());
  std::string csv = "batch_size,threads,images_per_second,ms_per_batch\n";
  std::printf("%10s %10s %14s %14s\n", "batch", "threads", "images/s", "ms/batch");
  for (const std::size_t batch : sizes) {
    const auto t = time_backend(**backend, batch, opts.seconds);
    const double ips = t.per_second();
    const double ms = t.ms_per_item() * static_cast<double>(batch);
    std::printf("%10zu %10d %14.0f %14.3f\n", batch, threads, ips, ms);
    csv += fmt::format("{},{},{:.1f},{:.4f}\n", batch, threads, ips, ms);
  }
  if (!opts.csv.empty()) {
    std::ofstream(opts.csv) << csv;
    std::printf("wrote %s\n", opts.csv.c_str());
  }
  return 0;
}

}  // namespace

void register_bench_decode(CLI::App& bench);  // bench_decode.cc
void register_bench_e2e(CLI::App& bench);     // bench_e2e.cc
void register_bench_sweep(CLI::App& bench);   // bench_sweep.cc

void register_bench(CLI::App& app) {
  auto* bench =
      app.add_subcommand("bench",
                         "Benchmarks: raw model and decode throughput, the whole pipeline end to end, and "
                         "sweeps over engine settings");
  bench->require_subcommand(1);
  auto opts = std::make_shared<BackendBenchOptions>();
  auto* cmd = bench->add_subcommand("backend", "Raw backend throughput on pre-made tensors, per batch size");
  opts->model.add_to(*cmd, /*model_required=*/true);
  cmd->add_option("--batch-sizes", opts->batch_sizes, "Comma-separated batch sizes, in frames per model call")
      ->capture_default_str();
  cmd->add_option("--threads", opts->threads, "Intra-op threads (default: every hardware thread)");
  cmd->add_option("--seconds", opts->seconds, "Measuring time per batch size, in seconds")
      ->capture_default_str();
  cmd->add_option("--csv", opts->csv, "Also write the figures to this CSV file");
  cmd->callback([opts] {
    if (const int rc = run_backend_bench(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
  register_bench_decode(*bench);
  register_bench_e2e(*bench);
  register_bench_sweep(*bench);
}

}  // namespace sluice::cli
