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

#include "cli/cli_support.h"
#include "engine/streaming_context.h"
#include "observe/latency_recorder.h"
#include "producer/frame_sender.h"
#include "sink/json_lines_sink.h"
#include "source/tcp_listen_source.h"
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

// Scores every result against the known labels; optionally forwards lines to a file.
class ScoringSink final : public sink::Sink {
 public:
  ScoringSink(std::vector<std::uint8_t> truth, sink::Sink* forward)
      : truth_(std::move(truth)), forward_(forward) {}

  Status write(std::span<const sink::ResultRecord> records) override {
    for (const auto& r : records) {
      latency_.add(r.latency_ms);
      const std::size_t index = std::strtoull(r.name.c_str(), nullptr, 10);
      if (!r.ok()) {
        ++errors_;
      } else if (index < truth_.size() && !r.top.empty() && r.top.front().index == truth_[index]) {
        ++correct_;
      }
    }
    done_ += records.size();
    return forward_ ? forward_->write(records) : Status::ok();
  }
  Status flush() override { return forward_ ? forward_->flush() : Status::ok(); }

  std::uint64_t done() const { return done_; }
  std::uint64_t correct() const { return correct_; }
  std::uint64_t errors() const { return errors_; }
  const observe::LatencyRecorder& latency() const { return latency_; }

 private:
  std::vector<std::uint8_t> truth_;
  sink::Sink* forward_;
  std::atomic<std::uint64_t> done_{0}, correct_{0}, errors_{0};
  observe::LatencyRecorder latency_;
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
  ScoringSink scoring(std::move(truth->data), file_sink.get());
  engine::StreamingContext ctx(config, bundle, scoring);
  auto listen = std::make_unique<source::TcpListenSource>(source::TcpListenOptions{{"127.0.0.1", 0}});
  auto* listener = listen.get();
  ctx.add_source(std::move(listen));
  if (auto st = ctx.start(); !st) throw std::runtime_error(st.to_string());
  std::fprintf(stderr, "model: %s\n", ctx.model_description().c_str());
  std::fprintf(stderr, "plan: %d executor(s) x %d core(s), batch interval %lld ms, max batch %zu\n",
               config.executors, config.cores, static_cast<long long>(config.batch_interval.count()),
               config.max_batch);
  std::fprintf(stderr, "streaming %zu frames over %d TCP connection(s) to %s\n", total, opts.connections,
               listener->bound().to_string().c_str());

  producer::SendProgress progress;
  const auto start = std::chrono::steady_clock::now();
  Result<producer::SendSummary> sent = Status(Code::kInternal, "not finished");
  std::thread sender([&] {
    sent = producer::send_frames(*frames, listener->bound(),
                                 {0.0, opts.connections, std::max(1, opts.repeat)}, progress);
  });
  const bool tty = isatty(STDERR_FILENO);
  bool interrupted = false;
  auto last_print = start;
  while (scoring.done() < total) {
    if (signals.wait_for(std::chrono::milliseconds(100)) != 0) {
      interrupted = true;
      progress.cancel = true;
      break;
    }
    if (progress.cancel && scoring.done() >= ctx.metrics().frames_received) break;  // the sender failed
    const auto now = std::chrono::steady_clock::now();
    if (now - last_print >= std::chrono::milliseconds(tty ? 250 : 2000)) {
      last_print = now;
      const double secs = std::chrono::duration<double>(now - start).count();
      const auto done = scoring.done();
      std::fprintf(stderr, "%s%6llu/%zu results  sent %6llu  accuracy %5.1f%%  %7.0f frames/s%s",
                   tty ? "\r" : "", static_cast<unsigned long long>(done), total,
                   static_cast<unsigned long long>(progress.frames.load()),
                   done ? 100.0 * static_cast<double>(scoring.correct()) / static_cast<double>(done) : 0.0,
                   static_cast<double>(done) / secs, tty ? "" : "\n");
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sender.join();
  ctx.stop();
  if (tty) std::fprintf(stderr, "\n");
  if (!sent && !interrupted) {
    std::fprintf(stderr, "sluice demo: sending failed: %s\n", sent.status().to_string().c_str());
    return 1;
  }
  const auto done = scoring.done();
  std::printf("frames:        %llu sent, %llu results (%llu errors)\n",
              static_cast<unsigned long long>(progress.frames.load()), static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(scoring.errors()));
  std::printf("accuracy:      %.2f%% top-1 on the Fashion-MNIST test set\n",
              done ? 100.0 * static_cast<double>(scoring.correct()) / static_cast<double>(done) : 0.0);
  std::printf(
      "throughput:    %.0f frames/s end to end (%.2f s from first frame sent to last result written)\n",
      static_cast<double>(done) / seconds, seconds);
  std::printf("latency:       p50 %.1f ms, p99 %.1f ms (receipt to result)\n",
              scoring.latency().quantile(0.5), scoring.latency().quantile(0.99));
  return interrupted ? 130 : (done == total ? 0 : 1);
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
