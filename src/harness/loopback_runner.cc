#include "harness/loopback_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "engine/resident_budget.h"
#include "observe/latency_recorder.h"
#include "observe/process_memory.h"
#include "producer/frame_sender.h"
#include "sink/null_sink.h"
#include "source/tcp_listen_source.h"

namespace sluice::harness {
namespace {
using SteadyClock = std::chrono::steady_clock;
}  // namespace

// Told about every result and every batch statistic of the current run.
class LoopbackRunner::Collector final : public engine::ResultListener, public engine::BatchListener {
 public:
  explicit Collector(ResultHook hook) : hook_(std::move(hook)) { reset(); }

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

  void on_results(std::span<const sink::ResultRecord> records) override {
    const auto now = SteadyClock::now();
    if (hook_) {
      for (const auto& r : records) hook_(r);
    }
    std::lock_guard lock(mu_);
    for (const auto& r : records) {
      latency_->add(r.latency_ms);
      if (!r.ok()) ++errors_;
    }
    last_result_ = std::max(last_result_, now);
    results_ += records.size();
  }

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
  ResultHook hook_;
  mutable std::mutex mu_;
  std::unique_ptr<observe::LatencyRecorder> latency_;
  std::atomic<std::uint64_t> results_{0};
  std::uint64_t errors_ = 0;
  std::uint64_t batches_ = 0;
  std::uint64_t batch_records_ = 0;
  std::uint64_t processing_us_ = 0;
  SteadyClock::time_point last_result_{};
};

LoopbackRunner::LoopbackRunner(PipelineConfig config, const model::ModelBundle& bundle,
                               const producer::FrameSet& frames, LoopbackSettings settings,
                               const std::atomic<bool>& cancel, sink::Sink* output, ResultHook on_result)
    : config_(std::move(config)),
      bundle_(bundle),
      frames_(frames),
      settings_(settings),
      cancel_(cancel),
      output_(output),
      collector_(std::make_unique<Collector>(std::move(on_result))) {
  if (output_ == nullptr) {
    null_sink_ = std::make_unique<sink::NullSink>();
    output_ = null_sink_.get();
  }
}

LoopbackRunner::~LoopbackRunner() {
  stop();
}

const PipelineConfig& LoopbackRunner::config() const {
  return ctx_ ? ctx_->config() : config_;
}

void LoopbackRunner::start() {
  if (frames_.frames.empty()) throw std::runtime_error("no frame to send");
  ctx_ = std::make_unique<engine::StreamingContext>(config_, bundle_, *output_);
  auto listen = std::make_unique<source::TcpListenSource>(source::TcpListenOptions{
      .endpoint = {"127.0.0.1", 0},
      .max_frame_bytes = static_cast<std::size_t>(config_.max_frame_bytes),
      .max_connections = config_.max_connections,
      .idle_timeout = config_.idle_timeout,
      // Every producer of the loopback is this process, on 127.0.0.1.
      .max_connections_per_peer = config_.max_connections,
      .identities = nullptr,
  });
  auto* listener = listen.get();
  ctx_->add_source(std::move(listen));
  ctx_->add_listener(collector_.get());
  ctx_->add_result_listener(collector_.get());
  if (auto st = ctx_->load(); !st) throw std::runtime_error(st.to_string());
  if (settings_.budget_is_resident_bound) {
    auto data =
        engine::data_budget_within(config_.memory_budget, observe::resident_memory_bytes().value_or(0));
    if (!data) throw std::runtime_error(data.status().message());
    ctx_->set_memory_budget(static_cast<std::size_t>(*data));
  }
  if (auto st = ctx_->start(); !st) throw std::runtime_error(st.to_string());
  endpoint_ = listener->bound();
}

void LoopbackRunner::stop() {
  if (ctx_) ctx_->stop();
}

std::string LoopbackRunner::model_description() const {
  return ctx_ ? ctx_->model_description() : std::string();
}

void LoopbackRunner::warm_up() {
  (void)run("warm-up", std::min<std::size_t>(settings_.frames, 500), 0.0, 0.0);
}

RunStats LoopbackRunner::run_max() {
  return run("max", settings_.frames, 0.0, 0.0);
}

RunStats LoopbackRunner::run_load(double pct, double max_fps) {
  const double rate = pct / 100.0 * max_fps;
  if (!(rate > 0)) throw std::runtime_error("the max-rate run measured no throughput: no load to offer");
  const double wanted = std::ceil(rate * settings_.load_seconds);
  const auto count =
      std::max(settings_.frames,
               static_cast<std::size_t>(std::min(wanted, static_cast<double>(settings_.max_load_frames))));
  return run("load", count, rate, pct);
}

RunStats LoopbackRunner::run(std::string name, std::size_t count, double rate, double pct,
                             const TickHook& tick) {
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
  auto last_tick = start;
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
    if (tick && now - last_tick >= std::chrono::milliseconds(250)) {
      last_tick = now;
      tick(results, progress.frames.load());
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
        "{} run: {} of {} frames sent have no result ({} s without a new result): frames were lost", name,
        frames_sent - collector_->results(), frames_sent, settings_.stall_seconds));
  }
  // The batch statistics follow just after their results.
  const auto wait_from = SteadyClock::now();
  while (collector_->batch_records() < collector_->results() && seconds_since(wait_from) < 5.0) {
    check_cancel(&cancel_);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (tick) tick(collector_->results(), frames_sent);

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
  const auto& c = ctx_->config();
  const double wait_ms = c.mode == BatchMode::kContinuous ? static_cast<double>(c.max_delay.count()) / 1000.0
                                                          : static_cast<double>(c.batch_interval.count());
  stats.latency_bound_ms = wait_ms + 2.0 * stats.batch_ms;
  if (settings_.progress) {
    std::fprintf(stderr, "%s: %llu results in %.2f s, %.0f frames/s, p99 %.1f ms\n", stats.run.c_str(),
                 static_cast<unsigned long long>(stats.results), stats.seconds, stats.throughput_fps,
                 stats.p99_ms);
  }
  return stats;
}

}  // namespace sluice::harness
