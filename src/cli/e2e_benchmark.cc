#include "cli/e2e_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "observe/latency_recorder.h"
#include "producer/frame_sender.h"
#include "sink/sink.h"
#include "source/tcp_listen_source.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"

namespace sluice::cli {
namespace {
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

void check_cancel(const std::atomic<bool>* cancel) {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) throw Interrupted();
}

// The .jpg/.jpeg/.png files of a folder as frames, with errors that name the option.
producer::FrameSet load_image_folder(const std::string& dir, std::string_view option, std::size_t limit) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    throw std::runtime_error(fmt::format("{} {}: no such directory", option, dir));
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error(
        fmt::format("{} {}: not a directory (give a folder of JPEG/PNG images)", option, dir));
  auto set = producer::load_frame_set({dir}, limit);
  if (!set) throw std::runtime_error(fmt::format("{} {}: {}", option, dir, set.status().message()));
  if (set->frames.empty())
    throw std::runtime_error(fmt::format("{} {}: no .jpg, .jpeg or .png file", option, dir));
  return std::move(*set);
}

}  // namespace

InterruptFlag::InterruptFlag(SignalWaiter& signals) {
  thread_ = std::thread([this, &signals] {
    while (!done_.load()) {
      if (signals.wait_for(std::chrono::milliseconds(100)) != 0) {
        if (!raised_.exchange(true)) std::fprintf(stderr, "interrupted: stopping the measurement\n");
      }
    }
  });
}

InterruptFlag::~InterruptFlag() {
  done_ = true;
  thread_.join();
}

std::vector<std::vector<std::uint8_t>> read_image_dir(const std::string& dir, std::string_view option) {
  auto set = load_image_folder(dir, option, 0);
  std::vector<std::vector<std::uint8_t>> out;
  out.reserve(set.frames.size());
  for (auto& frame : set.frames) out.push_back(std::move(frame.payload));
  return out;
}

producer::FrameSet load_bench_frames(const std::string& images_dir, const std::string& idx_file,
                                     std::size_t limit) {
  if (images_dir.empty() && idx_file.empty())
    throw std::runtime_error("give --images DIR (a folder of JPEG/PNG images) or --idx FILE (IDX images)");
  if (!images_dir.empty() && !idx_file.empty())
    throw std::runtime_error("--images and --idx exclude each other: give one of them");
  if (!images_dir.empty()) return load_image_folder(images_dir, "--images", limit);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(idx_file, ec))
    throw std::runtime_error(fmt::format("--idx {}: no such file", idx_file));
  auto set = producer::load_idx_frames(idx_file, limit);
  if (!set) throw std::runtime_error(fmt::format("--idx {}: {}", idx_file, set.status().message()));
  if (set->frames.empty()) throw std::runtime_error(fmt::format("--idx {}: holds no image", idx_file));
  return std::move(*set);
}

model::ModelShape model_input_shape(const model::ModelBundle& bundle) {
  model::ModelShape shape;
  if (bundle.input_chw.size() == 3) {
    shape.channels = static_cast<int>(bundle.input_chw[0]);
    shape.height = static_cast<int>(bundle.input_chw[1]);
    shape.width = static_cast<int>(bundle.input_chw[2]);
    return shape;
  }
  auto backend = model::create_backend(bundle, {1, 1});
  if (!backend) throw std::runtime_error(backend.status().to_string());
  return (*backend)->shape();
}

Throughput time_decode_preprocess(const model::ModelBundle& bundle,
                                  std::span<const std::span<const std::uint8_t>> images, bool dct_scaling,
                                  std::uint64_t max_pixels, double seconds, const std::atomic<bool>* cancel) {
  if (!bundle.preprocess)
    throw std::runtime_error("the model bundle declares no preprocessing (use --preprocess)");
  if (images.empty()) throw std::runtime_error("no image to decode");
  const auto shape = model_input_shape(bundle);
  auto pre = vision::Preprocessor::create(*bundle.preprocess, shape.channels, shape.height, shape.width);
  if (!pre) throw std::runtime_error(pre.status().to_string());
  std::vector<float> tensor(pre->tensor_elements());
  // As engine::Executor sets up its own decoder.
  vision::ImageDecoder decoder(max_pixels);
  decoder.set_scaling_target(dct_scaling ? &pre->spec() : nullptr);
  vision::DecodedImage image;
  const int channels = pre->spec().channels();
  const auto once = [&](std::span<const std::uint8_t> bytes) {
    if (auto st = decoder.decode(bytes, channels, image); !st) throw std::runtime_error(st.to_string());
    if (auto st = pre->run(image, tensor); !st) throw std::runtime_error(st.to_string());
  };
  for (const auto& bytes : images) {  // warm-up
    check_cancel(cancel);
    once(bytes);
  }
  Throughput t;
  const auto start = SteadyClock::now();
  do {
    check_cancel(cancel);
    once(images[t.items % images.size()]);
    ++t.items;
    t.seconds = seconds_since(start);
  } while (t.seconds < seconds);
  return t;
}

Throughput time_backend(model::Backend& backend, std::size_t batch, double seconds,
                        const std::atomic<bool>* cancel) {
  const auto& shape = backend.shape();
  // Pre-made tensors: a fixed pseudo-random pattern, so no decode or preprocessing is measured.
  std::vector<float> input(batch * shape.input_elements());
  for (std::size_t i = 0; i < input.size(); ++i)
    input[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;
  std::vector<float> output(batch * static_cast<std::size_t>(shape.classes));
  for (int warm = 0; warm < 3; ++warm) {
    if (auto st = backend.infer(input, batch, output); !st) throw std::runtime_error(st.to_string());
  }
  Throughput t;
  const auto start = SteadyClock::now();
  do {
    check_cancel(cancel);
    if (auto st = backend.infer(input, batch, output); !st) throw std::runtime_error(st.to_string());
    t.items += batch;
    t.seconds = seconds_since(start);
  } while (t.seconds < seconds);
  return t;
}

Throughput time_inference(const model::ModelBundle& bundle, std::size_t batch, int threads, double seconds,
                          const std::atomic<bool>* cancel, std::string* description) {
  auto backend = model::create_backend(bundle, {std::max(1, threads), std::max<std::size_t>(1, batch)});
  if (!backend) throw std::runtime_error(backend.status().to_string());
  if (description != nullptr) *description = (*backend)->describe();
  return time_backend(**backend, batch, seconds, cancel);
}

void BenchInputOptions::add_to(CLI::App& app) {
  auto* images_opt = app.add_option("--images", images, "Folder of JPEG/PNG images to send, cycled");
  auto* idx_opt = app.add_option("--idx", idx,
                                 "IDX image file to send as PNG frames, cycled (e.g. "
                                 "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)");
  images_opt->excludes(idx_opt);
  app.add_option("--limit", limit, "Use only the first N images of --images/--idx (0 = all)")
      ->capture_default_str();
  app.add_option("--frames", frames,
                 "Frames sent by the max-rate run (and at least this many by each load run)")
      ->capture_default_str();
  app.add_option("--connections", connections, "Producer TCP connections over loopback")
      ->capture_default_str();
  app.add_option("--load-seconds", load_seconds,
                 "A load run sends about this many seconds of frames at its offered rate (at most 1000000 "
                 "frames)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
}

void BenchInputOptions::validate() const {
  if (images.empty() && idx.empty())
    throw std::runtime_error("give --images DIR (a folder of JPEG/PNG images) or --idx FILE (IDX images)");
  if (frames < 1) throw std::runtime_error("--frames must be at least 1");
  if (connections < 1) throw std::runtime_error("--connections must be at least 1");
  if (!(load_seconds > 0) || !std::isfinite(load_seconds))
    throw std::runtime_error("--load-seconds must be a positive number of seconds");
}

E2eSettings BenchInputOptions::settings() const {
  return E2eSettings{
      .connections = connections,
      .frames = frames,
      .load_seconds = load_seconds,
      .max_load_frames = 1000000,
      .stall_seconds = 30.0,
      .progress = true,
  };
}

std::string duration_label(std::chrono::microseconds d) {
  const auto us = d.count();
  if (us % 1000 != 0) return fmt::format("{}us", us);
  const auto ms = us / 1000;
  if (ms >= 1000 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  if (ms >= 1000 && ms % 100 == 0) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  return fmt::format("{}ms", ms);
}

// Receives every result line and every batch statistic of the current run.
class E2eRunner::Collector final : public sink::Sink, public engine::BatchListener {
 public:
  Collector() { reset(); }

  /// Starts a new run; call only while the pipeline is idle.
  void reset() {
    std::lock_guard lock(mu_);
    latency_ = std::make_unique<observe::LatencyRecorder>();
    results_ = 0;
    errors_ = 0;
    batches_ = 0;
    batch_records_ = 0;
    processing_us_ = 0;
    last_result_ = {};
  }

  Status write(std::span<const sink::ResultRecord> records) override {
    const auto now = SteadyClock::now();
    std::lock_guard lock(mu_);
    for (const auto& r : records) {
      latency_->add(r.latency_ms);
      if (!r.ok()) ++errors_;
    }
    last_result_ = std::max(last_result_, now);
    results_ += records.size();
    return Status::ok();
  }
  Status flush() override { return Status::ok(); }

  void on_batch_completed(const engine::BatchInfo& info) override {
    if (info.records == 0) return;
    std::lock_guard lock(mu_);
    ++batches_;
    batch_records_ += info.records;
    processing_us_ += static_cast<std::uint64_t>(info.processing_time.count());
  }

  std::uint64_t results() const { return results_.load(); }
  std::uint64_t batch_records() const {
    std::lock_guard lock(mu_);
    return batch_records_;
  }

  /// Fills the run's counts, latencies and batch figures.
  void fill(RunStats& stats, SteadyClock::time_point start) const {
    std::lock_guard lock(mu_);
    stats.results = results_;
    stats.errors = errors_;
    stats.seconds = last_result_ > start ? std::chrono::duration<double>(last_result_ - start).count() : 0.0;
    stats.throughput_fps = stats.seconds > 0 ? static_cast<double>(stats.results) / stats.seconds : 0.0;
    stats.p50_ms = latency_->quantile(0.50);
    stats.p90_ms = latency_->quantile(0.90);
    stats.p99_ms = latency_->quantile(0.99);
    stats.batches = batches_;
    stats.mean_batch = batches_ ? static_cast<double>(batch_records_) / static_cast<double>(batches_) : 0.0;
    stats.batch_ms =
        batches_ ? static_cast<double>(processing_us_) / 1000.0 / static_cast<double>(batches_) : 0.0;
  }

 private:
  mutable std::mutex mu_;
  std::unique_ptr<observe::LatencyRecorder> latency_;
  std::atomic<std::uint64_t> results_{0};
  std::uint64_t errors_ = 0;
  std::uint64_t batches_ = 0;
  std::uint64_t batch_records_ = 0;
  std::uint64_t processing_us_ = 0;
  SteadyClock::time_point last_result_{};
};

E2eRunner::E2eRunner(engine::EngineConfig config, const model::ModelBundle& bundle,
                     const producer::FrameSet& frames, E2eSettings settings, const std::atomic<bool>& cancel)
    : config_(std::move(config)),
      bundle_(bundle),
      frames_(frames),
      settings_(settings),
      cancel_(cancel),
      collector_(std::make_unique<Collector>()) {}

E2eRunner::~E2eRunner() {
  stop();
}

void E2eRunner::start() {
  if (frames_.frames.empty()) throw std::runtime_error("no frame to send");
  ctx_ = std::make_unique<engine::StreamingContext>(config_, bundle_, *collector_);
  auto listen = std::make_unique<source::TcpListenSource>(source::TcpListenOptions{
      .endpoint = {"127.0.0.1", 0},
      .max_frame_bytes = wire::kDefaultMaxFrameBytes,
      .max_connections = 1024,
      .idle_timeout = std::chrono::milliseconds(60000),
  });
  auto* listener = listen.get();
  ctx_->add_source(std::move(listen));
  ctx_->add_listener(collector_.get());
  if (auto st = ctx_->start(); !st) throw std::runtime_error(st.to_string());
  endpoint_ = listener->bound();
}

void E2eRunner::stop() {
  if (ctx_) ctx_->stop();
}

std::string E2eRunner::model_description() const {
  return ctx_ ? ctx_->model_description() : std::string();
}

void E2eRunner::warm_up() {
  (void)run("warm-up", std::min<std::size_t>(settings_.frames, 500), 0.0, 0.0);
}

RunStats E2eRunner::run_max() {
  return run("max", settings_.frames, 0.0, 0.0);
}

RunStats E2eRunner::run_load(double pct, double max_fps) {
  const double rate = pct / 100.0 * max_fps;
  if (!(rate > 0)) throw std::runtime_error("the max-rate run measured no throughput: no load to offer");
  const double wanted = std::ceil(rate * settings_.load_seconds);
  const auto count =
      std::max(settings_.frames,
               static_cast<std::size_t>(std::min(wanted, static_cast<double>(settings_.max_load_frames))));
  return run("load", count, rate, pct);
}

RunStats E2eRunner::run(std::string name, std::size_t count, double rate, double pct) {
  if (!ctx_) throw std::runtime_error("the pipeline is not started");
  check_cancel(&cancel_);
  // What to send: exactly `count` frames of the set, cycled. Copies stay under 256 MiB; past that
  // the whole set is sent as often as needed for at least `count` frames.
  constexpr std::uint64_t kCopyBytes = 256ull << 20;
  const std::size_t available = frames_.frames.size();
  const std::uint64_t mean_bytes = frames_.bytes() / available + 1;
  producer::FrameSet cycled;
  const producer::FrameSet* set = &frames_;
  int repeat = 1;
  if (count != available && (count < available || count * mean_bytes <= kCopyBytes)) {
    cycled.frames.reserve(count);
    for (std::size_t i = 0; i < count; ++i) cycled.frames.push_back(frames_.frames[i % available]);
    set = &cycled;
  } else if (count > available) {
    repeat = static_cast<int>((count + available - 1) / available);
  }
  const std::uint64_t planned =
      static_cast<std::uint64_t>(set->frames.size()) * static_cast<std::uint64_t>(repeat);

  collector_->reset();
  const auto calls_before = ctx_->metrics().inference_seconds.snapshot().count;
  producer::SendProgress progress;
  std::atomic<bool> sender_done{false};
  Result<producer::SendSummary> sent = Status(Code::kInternal, "not finished");
  if (settings_.progress) {
    std::fprintf(stderr, "%s: sending %llu frames %s over %d connection(s)\n", name.c_str(),
                 static_cast<unsigned long long>(planned),
                 rate > 0 ? fmt::format("at {:.0f} frames/s", rate).c_str() : "as fast as possible",
                 settings_.connections);
  }
  const auto start = SteadyClock::now();
  std::thread sender([&] {
    sent = producer::send_frames(
        *set, endpoint_, {.rate = rate, .connections = settings_.connections, .repeat = repeat}, progress);
    sender_done = true;
  });
  std::uint64_t last_count = 0;
  auto last_change = start;
  auto last_print = start;
  bool interrupted = false;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (cancel_.load()) {
      interrupted = true;
      break;
    }
    const auto now = SteadyClock::now();
    const auto results = collector_->results();
    if (results != last_count) {
      last_count = results;
      last_change = now;
    }
    if (sender_done.load()) {
      if (!sent) break;
      if (results >= progress.frames.load()) break;
      if (std::chrono::duration<double>(now - last_change).count() > settings_.stall_seconds) break;
    }
    if (settings_.progress && now - last_print >= std::chrono::seconds(2)) {
      last_print = now;
      std::fprintf(stderr, "%s: %llu/%llu results, %.0f frames/s\n", name.c_str(),
                   static_cast<unsigned long long>(results), static_cast<unsigned long long>(planned),
                   static_cast<double>(results) / seconds_since(start));
    }
  }
  if (interrupted) {
    // Stopping the pipeline closes the connections, so a sender blocked on a full socket returns.
    progress.cancel = true;
    ctx_->stop();
    sender.join();
    throw Interrupted();
  }
  sender.join();
  if (!sent)
    throw std::runtime_error(fmt::format("{} run: sending failed: {}", name, sent.status().to_string()));
  const std::uint64_t frames_sent = progress.frames.load();
  if (collector_->results() < frames_sent) {
    throw std::runtime_error(fmt::format(
        "{} run: {} of {} frames sent have no result line ({} s without a new result): frames were lost",
        name, frames_sent - collector_->results(), frames_sent, settings_.stall_seconds));
  }
  // The batch statistics reach the listener just after their lines reach the sink.
  const auto wait_from = SteadyClock::now();
  while (collector_->batch_records() < collector_->results() && seconds_since(wait_from) < 5.0) {
    check_cancel(&cancel_);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  RunStats stats;
  stats.run = std::move(name);
  stats.offered_load_pct = pct;
  stats.offered_fps = rate;
  stats.frames = frames_sent;
  collector_->fill(stats, start);
  stats.model_calls = ctx_->metrics().inference_seconds.snapshot().count - calls_before;
  stats.frames_per_call = stats.model_calls ? static_cast<double>(stats.results - stats.errors) /
                                                  static_cast<double>(stats.model_calls)
                                            : 0.0;
  const double wait_ms = config_.mode == engine::BatchMode::kContinuous
                             ? static_cast<double>(config_.max_delay.count()) / 1000.0
                             : static_cast<double>(config_.batch_interval.count());
  stats.latency_bound_ms = wait_ms + 2.0 * stats.batch_ms;
  if (settings_.progress) {
    std::fprintf(stderr, "%s: %llu results in %.2f s, %.0f frames/s, p99 %.1f ms\n", stats.run.c_str(),
                 static_cast<unsigned long long>(stats.results), stats.seconds, stats.throughput_fps,
                 stats.p99_ms);
  }
  return stats;
}

}  // namespace sluice::cli
