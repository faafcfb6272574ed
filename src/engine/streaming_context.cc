#include "engine/streaming_context.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::engine {
namespace {
using std::chrono::duration_cast;
using std::chrono::microseconds;

double ms(microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}
}  // namespace

Status EngineConfig::validate() const {
  auto bad = [](std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); };
  if (batch_interval.count() <= 0) return bad("--batch-interval must be positive");
  if (block_interval.count() <= 0) return bad("--block-interval must be positive");
  if (block_interval > batch_interval) {
    return bad(fmt::format("--block-interval ({} ms) must not exceed --batch-interval ({} ms)",
                           block_interval.count(), batch_interval.count()));
  }
  if (executors < 1) return bad("--executors must be at least 1");
  if (cores < 1) return bad("--cores must be at least 1");
  if (max_batch < 1) return bad("--max-batch must be at least 1");
  if (top_k < 1) return bad("--top-k must be at least 1");
  if (memory_budget < (1u << 20)) return bad("--memory-budget must be at least 1 MiB");
  return Status::ok();
}

// The FrameSink each source stores into: budget first (backpressure), then its block generator.
class StreamingContext::Receiver final : public source::FrameSink {
 public:
  Receiver(StreamingContext& ctx, BlockGenerator& generator, observe::SourceStats& stats)
      : ctx_(ctx), generator_(generator), stats_(stats) {}

  Status store(Frame frame) override {
    const std::size_t bytes = frame.payload.size();
    if (!ctx_.budget_.acquire(bytes)) return Status(Code::kClosed, "the pipeline is stopping");
    ctx_.metrics_.frames_received.fetch_add(1, std::memory_order_relaxed);
    ctx_.metrics_.bytes_received.fetch_add(bytes, std::memory_order_relaxed);
    stats_.frames.fetch_add(1, std::memory_order_relaxed);
    stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
    generator_.append(std::move(frame));
    return Status::ok();
  }

  std::uint64_t open_stream(std::string_view peer) override {
    ++ctx_.metrics_.streams_opened;
    ++stats_.streams_open;
    const std::uint64_t id = ctx_.next_stream_++;
    spdlog::debug("{}: stream {} from {}", stats_.name(), id, peer);
    return id;
  }

  void close_stream(std::uint64_t, const Status& why) override {
    --stats_.streams_open;
    if (why.is_ok() || why.code() == Code::kClosed) return;
    ++ctx_.metrics_.streams_failed;
    ++stats_.errors;
    stats_.set_last_error(why.to_string());
    ctx_.metrics_.count_failure(code_name(why.code()));
  }

  void report_error(const Status& error) override {
    ++stats_.errors;
    stats_.set_last_error(error.to_string());
    ctx_.metrics_.count_failure(code_name(error.code()));
    spdlog::warn("{}: {}", stats_.name(), error.to_string());
  }

  observe::SourceStats& stats() override { return stats_; }

 private:
  StreamingContext& ctx_;
  BlockGenerator& generator_;
  observe::SourceStats& stats_;
};

StreamingContext::StreamingContext(EngineConfig config, const model::ModelBundle& bundle, sink::Sink& sink)
    : config_(config), bundle_(bundle), sink_(sink), budget_(config.memory_budget) {}

StreamingContext::~StreamingContext() {
  stop();
}

void StreamingContext::add_source(std::unique_ptr<source::Source> source) {
  sources_.push_back(std::move(source));
}

void StreamingContext::add_listener(BatchListener* listener) {
  listeners_.push_back(listener);
}

std::string StreamingContext::model_description() const {
  return executors_.empty() ? std::string("(not loaded)") : executors_.front()->backend().describe();
}

Status StreamingContext::start() {
  if (auto st = config_.validate(); !st) return st;
  if (sources_.empty())
    return Status(Code::kInvalidArgument, "no source: give --listen HOST:PORT or --connect HOST:PORT");
  const ExecutorOptions options{config_.cores, config_.max_batch, config_.top_k, config_.max_pixels};
  for (int i = 0; i < config_.executors; ++i) {
    auto done = [this](std::size_t source, std::span<const Frame> frames) {
      sources_[source]->on_frames_done(frames);
    };
    auto executor = Executor::create(i, bundle_, options, ExecutorServices{sink_, budget_, metrics_, done});
    if (!executor) return executor.status();
    executors_.push_back(std::move(*executor));
  }
  spdlog::info("model: {}", model_description());
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int threads = config_.executors * config_.cores;
  spdlog::info(
      "plan: {} executor(s) x {} core(s) = {} inference thread(s) on {} hardware thread(s); batch interval "
      "{} ms, "
      "block interval {} ms, max batch {}, memory budget {} MiB",
      config_.executors, config_.cores, threads, hw, config_.batch_interval.count(),
      config_.block_interval.count(), config_.max_batch, config_.memory_budget >> 20);
  if (static_cast<unsigned>(threads) > hw) {
    spdlog::warn("executors x cores = {} exceeds the {} hardware threads: the cores are oversubscribed",
                 threads, hw);
  }
  std::vector<BlockGenerator*> generator_ptrs;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    generators_.push_back(std::make_unique<BlockGenerator>(i));
    generator_ptrs.push_back(generators_.back().get());
    source_stats_.push_back(std::make_unique<observe::SourceStats>(sources_[i]->name()));
    receivers_.push_back(std::make_unique<Receiver>(*this, *generators_.back(), *source_stats_.back()));
  }
  for (auto& executor : executors_) {
    executor_threads_.emplace_back([this, &executor] { executor_loop(*executor); });
  }
  scheduler_ = std::make_unique<IntervalScheduler>(
      IntervalOptions{config_.batch_interval, config_.block_interval}, std::move(generator_ptrs), store_,
      [this](std::vector<Block> blocks, Clock::time_point t) { submit_batch(std::move(blocks), t); });
  scheduler_->start();
  started_ = true;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (auto st = sources_[i]->start(*receivers_[i]); !st) {
      source_stats_[i]->set_state(observe::SourceState::kFailed);
      source_stats_[i]->set_last_error(st.to_string());
      return Status(st.code(), fmt::format("{}: {}", sources_[i]->name(), st.message()));
    }
    source_stats_[i]->set_state(observe::SourceState::kRunning);
  }
  return Status::ok();
}

void StreamingContext::stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  // Order matters: no new frames, then a last batch with every accepted frame, then drain.
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    sources_[i]->stop();
    if (i < source_stats_.size()) source_stats_[i]->set_state(observe::SourceState::kStopped);
  }
  if (scheduler_) scheduler_->stop();
  tasks_.close();
  for (auto& t : executor_threads_) t.join();
  executor_threads_.clear();
  budget_.close();
  if (auto st = sink_.flush(); !st) spdlog::error("{}", st.to_string());
  if (started_) {
    spdlog::info("stopped: {} frames received, {} results, {} errors, {} batches",
                 metrics_.frames_received.load(), metrics_.frames_succeeded.load(),
                 metrics_.frames_failed.load(), metrics_.batches_completed.load());
  }
}

void StreamingContext::submit_batch(std::vector<Block> blocks, Clock::time_point batch_time) {
  auto batch = std::make_shared<BatchRun>();
  batch->info.id = next_batch_id_++;
  batch->info.batch_time = batch_time;
  batch->info.blocks = blocks.size();
  batch->blocks = std::move(blocks);
  std::vector<Task> tasks;
  for (std::size_t b = 0; b < batch->blocks.size(); ++b) {
    const std::size_t n = batch->blocks[b].frames.size();
    batch->info.records += n;
    for (std::size_t begin = 0; begin < n; begin += config_.max_batch) {
      tasks.push_back(Task{batch, b, begin, std::min(n, begin + config_.max_batch)});
    }
  }
  batch->tasks_left = tasks.size();
  for (auto& task : tasks) tasks_.push(std::move(task));
}

void StreamingContext::executor_loop(Executor& executor) {
  while (auto task = tasks_.pop()) {
    if (executor.process(*task)) finish_batch(*task->batch);
  }
}

void StreamingContext::finish_batch(BatchRun& batch) {
  const auto end = Clock::now();
  auto& info = batch.info;
  const Clock::time_point first_start{Clock::duration(batch.first_start.load())};
  info.failed = batch.failed.load();
  info.scheduling_delay =
      std::max(microseconds(0), duration_cast<microseconds>(first_start - info.batch_time));
  info.processing_time = duration_cast<microseconds>(end - first_start);
  info.total_delay = std::max(microseconds(0), duration_cast<microseconds>(end - info.batch_time));
  if (auto st = sink_.flush(); !st) spdlog::error("{}", st.to_string());
  ++metrics_.batches_completed;
  spdlog::info(
      "batch {}: {} records ({} failed) in {} blocks; scheduling delay {:.1f} ms, processing time {:.1f} ms, "
      "total delay {:.1f} ms",
      info.id, info.records, info.failed, info.blocks, ms(info.scheduling_delay), ms(info.processing_time),
      ms(info.total_delay));
  for (auto* listener : listeners_) listener->on_batch_completed(info);
}

}  // namespace sluice::engine
