// sluice demo: the main job. Streams the Fashion-MNIST test set over loopback TCP through the
// pipeline and reports accuracy, throughput and latency.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/bench_support.h"
#include "cli/cli_support.h"
#include "harness/loopback_runner.h"
#include "producer/frame_sender.h"
#include "sink/json_lines_sink.h"
#include "vision/idx_file.h"

namespace sluice::cli {
namespace {

struct DemoOptions {
  std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  std::string truth = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  std::string output;
  int connections = 4;
  int repeat = 1;
  std::size_t limit = 0;
  std::string log_level = "warn";
  ModelOptions model;
  EngineOptions engine;
};

int run_demo(DemoOptions opts) {
  SignalWaiter signals;
  setup_logging(opts.log_level, false);
  if (opts.model.model.empty()) opts.model.model = ".cache/models/fashion-mnist";
  if (!std::filesystem::exists(opts.model.model)) {
    throw std::runtime_error(
        fmt::format("model '{}' not found: run tools/train_fashion_mnist.py --out {} first "
                    "(scripts/main-job.sh does it for you)",
                    opts.model.model, opts.model.model));
  }
  const auto config = opts.engine.resolve();
  const auto bundle = opts.model.load();
  auto truth = vision::read_idx(opts.truth);
  if (!truth) throw std::runtime_error(truth.status().message());

  std::fprintf(stderr, "encoding the test images as PNG frames...\n");
  auto frames = producer::load_idx_frames(opts.images, opts.limit);
  if (!frames) throw std::runtime_error(frames.status().message());
  const std::size_t total = frames->frames.size() * static_cast<std::size_t>(std::max(1, opts.repeat));

  std::unique_ptr<sink::JsonLinesSink> file_sink;
  if (!opts.output.empty()) {
    auto s = sink::JsonLinesSink::open(opts.output);
    if (!s) throw std::runtime_error(s.status().message());
    file_sink = std::move(*s);
  }
  // Scores every result against the known labels.
  std::atomic<std::uint64_t> correct{0}, errors{0};
  auto score = [&, labels = truth->data](const sink::ResultRecord& r) {
    const std::size_t index = std::strtoull(r.name.c_str(), nullptr, 10);
    if (!r.ok()) {
      ++errors;
    } else if (index < labels.size() && !r.top.empty() && r.top.front().index == labels[index]) {
      ++correct;
    }
  };
  InterruptFlag interrupt(signals);
  harness::LoopbackSettings settings;
  settings.connections = opts.connections;
  settings.frames = total;
  settings.progress = false;
  harness::LoopbackRunner runner(config, bundle, *frames, settings, interrupt.flag(), file_sink.get(), score);
  runner.start();
  const auto& plan = runner.config();
  std::fprintf(stderr, "model: %s\n", runner.model_description().c_str());
  std::fprintf(stderr, "plan: %d executor(s) x %d core(s), batch interval %lld ms, max batch %zu\n",
               plan.executors, plan.cores, static_cast<long long>(plan.batch_interval.count()),
               plan.max_batch);
  std::fprintf(stderr, "streaming %zu frames over %d TCP connection(s)\n", total, opts.connections);
  const bool tty = isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  auto tick = [&](std::uint64_t done, std::uint64_t sent) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print < std::chrono::milliseconds(tty ? 250 : 2000)) return;
    last_print = now;
    const double secs = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "%s%6llu/%zu results  sent %6llu  accuracy %5.1f%%  %7.0f frames/s%s",
                 tty ? "\r" : "", static_cast<unsigned long long>(done), total,
                 static_cast<unsigned long long>(sent),
                 done ? 100.0 * static_cast<double>(correct.load()) / static_cast<double>(done) : 0.0,
                 static_cast<double>(done) / secs, tty ? "" : "\n");
  };
  harness::RunStats stats;
  try {
    stats = runner.run("demo", total, 0.0, 0.0, tick);
  } catch (const harness::Interrupted&) {
    if (tty) std::fprintf(stderr, "\n");
    std::fprintf(stderr, "sluice demo: interrupted\n");
    return 130;
  } catch (const std::exception& e) {
    if (tty) std::fprintf(stderr, "\n");
    std::fprintf(stderr, "sluice demo: %s\n", e.what());
    return 1;
  }
  runner.stop();
  if (tty) std::fprintf(stderr, "\n");
  const auto done = stats.results;
  std::printf("frames:        %llu sent, %llu results (%llu errors)\n",
              static_cast<unsigned long long>(stats.frames), static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(errors.load()));
  std::printf("accuracy:      %.2f%% top-1 on the Fashion-MNIST test set\n",
              done ? 100.0 * static_cast<double>(correct.load()) / static_cast<double>(done) : 0.0);
  std::printf(
      "throughput:    %.0f frames/s end to end (%.2f s from first frame sent to last result written)\n",
      stats.throughput_fps, stats.seconds);
  std::printf("latency:       p50 %.1f ms, p99 %.1f ms (receipt to result)\n", stats.p50_ms, stats.p99_ms);
  return done == total ? 0 : 1;
}

}  // namespace

void register_demo(CLI::App& app) {
  auto opts = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo",
      "The main job: stream the Fashion-MNIST test set through the pipeline over loopback TCP and report "
      "accuracy, frames/s and latency");
  cmd->add_option("--images", opts->images, "IDX image file to stream")->capture_default_str();
  cmd->add_option("--truth", opts->truth, "IDX label file with the true class of each image")
      ->capture_default_str();
  cmd->add_option("--connections", opts->connections, "Producer TCP connections over loopback")
      ->capture_default_str();
  cmd->add_option("--repeat", opts->repeat, "Stream the set this many times (for a longer measurement)")
      ->capture_default_str();
  cmd->add_option("--limit", opts->limit, "Stream only the first N images (0 = all)")->capture_default_str();
  cmd->add_option("--output,-o", opts->output, "Also write the result lines to this file (default: none)");
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  opts->model.add_to(*cmd, /*model_required=*/false);
  cmd->get_option("--model")->description(
      "Model bundle (default: .cache/models/fashion-mnist, trained by tools/train_fashion_mnist.py)");
  // A short stream (10,000 frames in well under a second) needs short intervals to be measured.
  opts->engine.batch_interval = "100ms";
  opts->engine.block_interval = "25ms";
  opts->engine.add_to(*cmd);
  cmd->callback([opts] {
    if (const int rc = run_demo(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
