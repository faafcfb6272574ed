#include "engine/streaming_context.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/config_rules.h"
#include "engine/continuous_scheduler.h"
#include "engine/interval_scheduler.h"
#include "model/backend.h"
#include "source/wal_recovery_source.h"

namespace sluice::engine {
namespace {
// Inputs up to this many values (64x64x4) are small: their batches cost little memory.
constexpr std::size_t kSmallInputElements = 64 * 64 * 4;
using std::chrono::duration_cast;
using std::chrono::microseconds;

double ms(microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}
}  // namespace

StreamingContext::StreamingContext(PipelineConfig config, const model::ModelBundle& bundle, sink::Sink& sink)
    : config_(with_defaults(std::move(config), &plan_reason_)),
      bundle_(bundle),
      sink_(sink),
      budget_(config_.memory_budget),
      decode_budget_(config_.memory_budget / 4),
      rates_(config_),
      committer_(Committer::Services{sink_, budget_, metrics_, nullptr,
                                     [this](std::size_t source, std::span<const Frame> frames) {
                                       sources_[source]->on_frames_done(frames);
                                       stream_ledger_.done(frames);
                                       for (const auto stream : stream_ledger_.take_finished()) {
                                         sink_.forget_stream(stream);
                                       }
                                     },
                                     [this](BatchRun& batch) { batch_committed(batch); }},
                 Committer::Policy{config_.fsync, config_.fsync_interval}) {
  set_memory_budget(config_.memory_budget);
}

StreamingContext::~StreamingContext() {
  stop();
}

void StreamingContext::add_source(std::unique_ptr<source::Source> source) {
  sources_.push_back(std::move(source));
}

void StreamingContext::add_listener(BatchListener* listener) {
  listeners_.push_back(listener);
}

void StreamingContext::add_result_listener(ResultListener* listener) {
  committer_.add_listener(listener);
}

void StreamingContext::set_write_ahead_log(store::WriteAheadLog* wal) {
  wal_ = wal;
  committer_.set_wal(wal);
  stream_ids_.raise_floor(wal->recovery().highest_stream_below_2_32);
}

void StreamingContext::set_memory_budget(std::size_t bytes) {
  config_.memory_budget = bytes;
  decode_budget_.set_limit(bytes / 4);
  budget_.set_limit(bytes - bytes / 4);
}

std::string StreamingContext::model_description() const {
  return executors_.empty() ? std::string("(not loaded)") : executors_.front()->backend().describe();
}

Status StreamingContext::load() {
  if (!executors_.empty()) return Status::ok();
  if (auto st = validate_engine(config_); !st) return st;
  if (config_.max_batch == 0) {
    // The runtime's working memory grows with the batch: for a 224x224 RGB input a batch of 64
    // holds about 600 MiB per session, a batch of 8 about 100 MiB, at a few percent of throughput.
    auto shape = model::input_shape(bundle_);
    if (!shape) return shape.status();
    config_.max_batch = shape->input_elements() <= kSmallInputElements ? 64 : 8;
    spdlog::info("max batch {}: derived from the {}x{}x{} input (max_batch, --max-batch, sets it)",
                 config_.max_batch, shape->channels, shape->height, shape->width);
  }
  const ExecutorOptions options{config_.cores, config_.max_batch, config_.top_k, config_.max_pixels,
                                config_.jpeg_dct_scaling};
  for (int i = 0; i < config_.executors; ++i) {
    auto executor = Executor::create(i, bundle_, options, ExecutorServices{decode_budget_, metrics_});
    if (!executor) {
      executors_.clear();
      return executor.status();
    }
    executors_.push_back(std::move(*executor));
  }
  // A full batch once per executor: its working memory then belongs to what loading took.
  for (auto& executor : executors_) {
    if (auto st = executor->warm_up(); !st) {
      executors_.clear();
      return Status(st.code(), fmt::format("the model fails on a blank batch of {}: {}", config_.max_batch,
                                           st.message()));
    }
  }
  spdlog::info("model: {}", model_description());
  return Status::ok();
}

Status StreamingContext::start() {
  if (auto st = validate_engine(config_); !st) return st;
  if (sources_.empty()) return Status(Code::kInvalidArgument, "no source to receive frames from");
  if (auto st = load(); !st) return st;
  if (wal_ != nullptr) {
    auto& fs = config_.file_system != nullptr ? *config_.file_system : fs::FileSystem::posix();
    if (auto st = stream_ids_.persist_in(fs, config_.wal_dir + "/stream-ids"); !st) return st;
    // Started first, and its start() returns once every logged frame without a result is stored.
    if (wal_->pending_recovery() > 0) {
      sources_.insert(sources_.begin(), std::make_unique<source::WalRecoverySource>(*wal_));
    }
  }
  store_.configure(SpillPolicy{config_.storage_level, config_.spill_dir, config_.disk_budget}, &budget_);
  if (config_.storage_level != StorageLevel::kMemory) {
    spdlog::info("storage level {}: spill files in {}, at most {} MiB on disk",
                 storage_level_name(config_.storage_level), config_.spill_dir, config_.disk_budget >> 20);
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const int threads = config_.executors * config_.cores;
  spdlog::info(
      "plan: {} executor(s) x {} core(s) = {} inference thread(s) on {} hardware thread(s) ({}); batch "
      "interval {} ms, "
      "block interval {} ms, max batch {}",
      config_.executors, config_.cores, threads, hw, plan_reason_, config_.batch_interval.count(),
      config_.block_interval.count(), config_.max_batch);
  if (static_cast<unsigned>(threads) > hw) {
    spdlog::warn("executors x cores = {} exceeds the {} hardware threads: the cores are oversubscribed",
                 threads, hw);
  }
  std::vector<BlockGenerator*> generator_ptrs;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    generators_.push_back(std::make_unique<BlockGenerator>(i));
    generator_ptrs.push_back(generators_.back().get());
    source_stats_.push_back(std::make_unique<observe::SourceStats>(sources_[i]->name()));
    ports_.push_back(std::make_unique<SourcePort>(
        AdmissionServices{budget_, stream_ids_, metrics_, wal_, [this] { scheduler_->frames_arrived(); },
                          &stream_ledger_},
        *generators_.back(), rates_.add_source(), *source_stats_.back()));
  }
  committer_.start();
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
    if (auto st = sources_[i]->start(*ports_[i]); !st) {
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

std::uint64_t StreamingContext::stop(Clock::time_point deadline) {
  std::lock_guard lock(stop_mu_);
  if (stopped_) return left_without_line_;
  stopped_ = true;
  // A source waiting for its rate must not hold up the stop, nor one waiting for a log that
  // cannot be written (past the deadline).
  rates_.close();
  if (wal_ != nullptr) wal_->give_up_after(deadline);
  // Order matters: no new frames, then a last batch with every accepted frame, then drain.
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    sources_[i]->stop();
    if (i < source_stats_.size()) source_stats_[i]->set_state(observe::SourceState::kStopped);
  }
  // Frames still on their way through the log join the last batch.
  if (wal_ != nullptr && !wal_->drain(deadline)) {
    spdlog::error("the write-ahead log could not write its last frames ({}); they were not accepted",
                  wal_->last_error());
    wal_->close();  // their admissions fail now, while the pipeline they would enter still exists
  }
  if (scheduler_) scheduler_->stop();
  tasks_.close();
  for (auto& t : executor_threads_) t.join();
  executor_threads_.clear();
  left_without_line_ = committer_.stop(deadline);
  if (wal_ != nullptr) wal_->close();  // with the last done records
  budget_.close();
  decode_budget_.close();
  if (started_) {
    spdlog::info(
        "stopped: {} frames received, {} result lines, {} error lines, {} duplicates suppressed, {} batches",
        metrics_.frames_received.load(), metrics_.frames_succeeded.load(), metrics_.frames_failed.load(),
        metrics_.duplicates_suppressed.load(), metrics_.batches_completed.load());
    if (left_without_line_ > 0) {
      spdlog::error("{} accepted frame(s) have no line: the output could not be written ({}){}",
                    left_without_line_, committer_.last_error(),
                    wal_ != nullptr ? "; the write-ahead log keeps them, and the next start writes them"
                                    : "; without --wal they are lost");
    }
    if (store_.spilled_blocks() > 0) {
      spdlog::info("storage: {} block(s) were spilled to disk and read back", store_.spilled_blocks());
    }
  }
  return left_without_line_;
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
      tasks.push_back(
          Task{batch, b, begin, std::min(n, begin + config_.max_batch), committer_.next_ticket()});
    }
  }
  batch->tasks_uncommitted = tasks.size();
  for (auto& task : tasks) tasks_.push(std::move(task));
}

void StreamingContext::executor_loop(Executor& executor) {
  while (auto task = tasks_.pop()) {
    ++busy_executors_;
    auto outcome = committer_.take_outcome();
    executor.process(*task, *outcome);
    committer_.complete(std::move(outcome));
    --busy_executors_;
    scheduler_->frames_arrived();  // an executor is free: continuous mode may cut a batch now
  }
}

void StreamingContext::batch_committed(BatchRun& batch) {
  const auto end = Clock::now();
  auto& info = batch.info;
  const Clock::time_point first_start{Clock::duration(batch.first_start.load())};
  info.failed = batch.failed.load();
  info.scheduling_delay =
      std::max(microseconds(0), duration_cast<microseconds>(first_start - info.batch_time));
  info.processing_time = duration_cast<microseconds>(end - first_start);
  info.total_delay = std::max(microseconds(0), duration_cast<microseconds>(end - info.batch_time));
  info.rate_limit = rates_.on_batch_completed(info, batch.blocks, started_at_);
  ++metrics_.batches_completed;
  spdlog::info(
      "batch {}: {} records ({} failed) in {} blocks; scheduling delay {:.1f} ms, processing time {:.1f} ms, "
      "total "
      "delay {:.1f} ms; rate limit {}",
      info.id, info.records, info.failed, info.blocks, ms(info.scheduling_delay), ms(info.processing_time),
      ms(info.total_delay), info.rate_limit > 0 ? fmt::format("{:.0f} records/s", info.rate_limit) : "none");
  for (auto* listener : listeners_) listener->on_batch_completed(info);
}

}  // namespace sluice::engine
