#include "engine/streaming_context.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "observe/process_memory.h"
#include "source/wal_recovery_source.h"

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
  if (mode == BatchMode::kContinuous && backpressure) {
    return bad(
        "--backpressure (the PID rate controller) works on batch intervals: use it with --mode interval; "
        "in continuous mode the memory budget is the backpressure");
  }
  if (max_delay.count() < 0) return bad("--max-delay must not be negative");
  if (spill.level != StorageLevel::kMemory && spill.dir.empty()) {
    return bad("--storage-level memory_and_disk and disk need --spill-dir");
  }
  if (initial_rate < 0 || max_rate < 0 || pid.min_rate <= 0) {
    return bad("--initial-rate and --max-rate must be >= 0, and --min-rate > 0");
  }
  return Status::ok();
}

// The FrameSink each source stores into: budget first (backpressure), then its block generator.
class StreamingContext::Receiver final : public source::FrameSink {
 public:
  Receiver(StreamingContext& ctx, BlockGenerator& generator, observe::SourceStats& stats,
           RateLimiter& limiter)
      : ctx_(ctx), generator_(generator), stats_(stats), limiter_(limiter) {}

  Status store(Frame frame) override {
    std::vector<Frame> one;
    one.push_back(std::move(frame));
    return store_many(one);
  }

  // Budget first (this is where backpressure blocks), then the WAL (durable before the caller
  // may acknowledge), then the block generator.
  Status store_many(std::vector<Frame>& frames) override {
    std::size_t bytes = 0;
    for (const auto& f : frames) bytes += f.payload.size();
    if (!limiter_.acquire(static_cast<double>(frames.size())))
      return Status(Code::kClosed, "the pipeline is stopping");
    if (!ctx_.budget_.acquire(bytes)) return Status(Code::kClosed, "the pipeline is stopping");
    if (ctx_.wal_ != nullptr) {
      // Replayed frames carry their old position and are not logged twice.
      const auto first_new =
          std::partition(frames.begin(), frames.end(), [](const Frame& f) { return f.wal_lsn != 0; });
      if (auto st = ctx_.wal_->append(
              std::span<Frame>(&*first_new, static_cast<std::size_t>(frames.end() - first_new)));
          !st) {
        ctx_.budget_.release(bytes);
        return st;
      }
    }
    ctx_.metrics_.frames_received.fetch_add(frames.size(), std::memory_order_relaxed);
    ctx_.metrics_.bytes_received.fetch_add(bytes, std::memory_order_relaxed);
    stats_.frames.fetch_add(frames.size(), std::memory_order_relaxed);
    stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
    for (auto& f : frames) generator_.append(std::move(f));
    ctx_.scheduler_->frames_arrived();
    return Status::ok();
  }

  std::uint64_t open_stream(std::string_view peer) override {
    ++ctx_.metrics_.streams_opened;
    ++stats_.streams_open;
    const std::uint64_t id = ctx_.stream_ids_.next();
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
  RateLimiter& limiter_;
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

void StreamingContext::set_write_ahead_log(store::WriteAheadLog* wal, std::string dir) {
  wal_ = wal;
  wal_dir_ = std::move(dir);
}

std::string StreamingContext::model_description() const {
  return executors_.empty() ? std::string("(not loaded)") : executors_.front()->backend().describe();
}

Status StreamingContext::start() {
  if (auto st = config_.validate(); !st) return st;
  if (sources_.empty())
    return Status(Code::kInvalidArgument,
                  "no source: give --listen HOST:PORT, --connect HOST:PORT or --source KIND:TARGET");
  if (wal_ != nullptr) {
    stream_ids_.persist_in(wal_dir_ + "/stream-ids");
    // Started first, and its start() returns once every logged frame without a result is stored.
    if (wal_->pending_recovery() > 0) {
      sources_.insert(sources_.begin(), std::make_unique<source::WalRecoverySource>(*wal_));
    }
  }
  const ExecutorOptions options{config_.cores, config_.max_batch, config_.top_k, config_.max_pixels,
                                config_.jpeg_dct_scaling};
  for (int i = 0; i < config_.executors; ++i) {
    auto done = [this](std::size_t source, std::span<const Frame> frames) {
      sources_[source]->on_frames_done(frames);
    };
    auto executor = Executor::create(i, bundle_, options, ExecutorServices{sink_, budget_, metrics_, done});
    if (!executor) return executor.status();
    executors_.push_back(std::move(*executor));
  }
  spdlog::info("model: {}", model_description());
  // --memory-budget bounds resident memory. What the process holds now (code, models, arenas)
  // is fixed; half of the rest goes to frames in flight, the other half is left for what scales
  // with them (decode buffers, block bookkeeping, allocator slack).
  const std::uint64_t fixed = observe::resident_memory_bytes().value_or(0);
  if (fixed + (16u << 20) > config_.memory_budget) {
    return Status(
        Code::kInvalidArgument,
        fmt::format("--memory-budget {} MiB is too small: the models alone take {} MiB; give at least {} MiB",
                    config_.memory_budget >> 20, fixed >> 20, (fixed >> 20) + 32));
  }
  budget_.set_limit(static_cast<std::size_t>((config_.memory_budget - fixed) / 2));
  store_.configure(config_.spill, &budget_);
  if (config_.spill.level != StorageLevel::kMemory) {
    spdlog::info("storage level {}: spill files in {}, at most {} MiB on disk",
                 storage_level_name(config_.spill.level), config_.spill.dir, config_.spill.disk_budget >> 20);
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int threads = config_.executors * config_.cores;
  spdlog::info(
      "plan: {} executor(s) x {} core(s) = {} inference thread(s) on {} hardware thread(s); batch interval "
      "{} ms, block interval {} ms, max batch {}",
      config_.executors, config_.cores, threads, hw, config_.batch_interval.count(),
      config_.block_interval.count(), config_.max_batch);
  spdlog::info(
      "memory: budget {} MiB, {} MiB resident after start-up, so up to {} MiB of frames in flight before "
      "sources stop reading",
      config_.memory_budget >> 20, fixed >> 20, budget_.limit() >> 20);
  if (static_cast<unsigned>(threads) > hw) {
    spdlog::warn("executors x cores = {} exceeds the {} hardware threads: the cores are oversubscribed",
                 threads, hw);
  }
  std::vector<BlockGenerator*> generator_ptrs;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    generators_.push_back(std::make_unique<BlockGenerator>(i));
    generator_ptrs.push_back(generators_.back().get());
    source_stats_.push_back(std::make_unique<observe::SourceStats>(sources_[i]->name()));
    // Spark's semantics: maxRate always caps; with backpressure the initial rate holds until the
    // first estimate, which then moves with every batch.
    const double initial = config_.backpressure && config_.initial_rate > 0 ? config_.initial_rate : 0.0;
    limiters_.push_back(std::make_unique<RateLimiter>(cap_rate(initial)));
    estimators_.emplace_back();
    if (config_.backpressure) estimators_.back().emplace(config_.batch_interval.count(), config_.pid);
    receivers_.push_back(
        std::make_unique<Receiver>(*this, *generators_.back(), *source_stats_.back(), *limiters_.back()));
  }
  for (auto& executor : executors_) {
    executor_threads_.emplace_back([this, &executor] { executor_loop(*executor); });
  }
  auto submit = [this](std::vector<Block> blocks, Clock::time_point t) {
    submit_batch(std::move(blocks), t);
  };
  if (config_.mode == BatchMode::kContinuous) {
    scheduler_ = std::make_unique<ContinuousScheduler>(
        ContinuousOptions{config_.max_batch, config_.max_delay}, std::move(generator_ptrs), store_, submit,
        [this] {
          return tasks_.size() + busy_executors_.load() >= static_cast<std::size_t>(config_.executors);
        });
  } else {
    scheduler_ =
        std::make_unique<IntervalScheduler>(IntervalOptions{config_.batch_interval, config_.block_interval},
                                            std::move(generator_ptrs), store_, submit);
  }
  started_at_ = Clock::now();
  scheduler_->start();
  started_ = true;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (auto st = sources_[i]->start(*receivers_[i]); !st) {
      source_stats_[i]->set_state(observe::SourceState::kFailed);
      source_stats_[i]->set_last_error(st.to_string());
      return Status(st.code(), fmt::format("{}: {}", sources_[i]->name(), st.message()));
    }
    // A supervised source may already be in backoff (it asked for a restart at once).
    if (source_stats_[i]->state() == observe::SourceState::kStarting) {
      source_stats_[i]->set_state(observe::SourceState::kRunning);
    }
  }
  return Status::ok();
}

double StreamingContext::cap_rate(double rate) const {
  if (config_.max_rate <= 0) return rate;
  return rate <= 0 ? config_.max_rate : std::min(rate, config_.max_rate);
}

void StreamingContext::stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  // A source waiting for its rate must not hold up the stop.
  for (auto& limiter : limiters_) limiter->close();
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
    if (store_.spilled_blocks() > 0) {
      spdlog::info("storage: {} block(s) were spilled to disk and read back", store_.spilled_blocks());
    }
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
    ++busy_executors_;
    if (executor.process(*task)) finish_batch(*task->batch);
    --busy_executors_;
    scheduler_->frames_arrived();  // an executor is free: continuous mode may cut a batch now
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
  if (wal_ != nullptr) {
    // Recorded only after the lines are flushed: a crash before this replays the batch, so
    // every frame has at least one result line.
    std::vector<std::uint64_t> lsns;
    lsns.reserve(info.records);
    for (const auto& block : batch.blocks) {
      for (const auto& frame : block.frames) {
        if (frame.wal_lsn != 0) lsns.push_back(frame.wal_lsn);
      }
    }
    wal_->mark_done(lsns);
  }
  // The rate controller: one estimate per source from what it contributed to this batch.
  {
    std::lock_guard lock(rate_mu_);
    const auto batch_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(info.batch_time - started_at_).count();
    for (std::size_t s = 0; s < estimators_.size(); ++s) {
      if (!estimators_[s]) continue;
      std::int64_t records = 0;
      for (const auto& block : batch.blocks) {
        if (block.source == s) records += static_cast<std::int64_t>(block.frames.size());
      }
      if (auto rate = estimators_[s]->compute(batch_ms, records, info.processing_time.count() / 1000,
                                              info.scheduling_delay.count() / 1000)) {
        limiters_[s]->set_rate(cap_rate(*rate));
      }
    }
    for (const auto& limiter : limiters_) info.rate_limit += limiter->rate();
  }
  ++metrics_.batches_completed;
  spdlog::info(
      "batch {}: {} records ({} failed) in {} blocks; scheduling delay {:.1f} ms, processing time {:.1f} ms, "
      "total delay {:.1f} ms; rate limit {}",
      info.id, info.records, info.failed, info.blocks, ms(info.scheduling_delay), ms(info.processing_time),
      ms(info.total_delay), info.rate_limit > 0 ? fmt::format("{:.0f} records/s", info.rate_limit) : "none");
  for (auto* listener : listeners_) listener->on_batch_completed(info);
}

}  // namespace sluice::engine
