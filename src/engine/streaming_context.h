// StreamingContext: wires sources, block generators, the block store, the batch scheduler,
// the executors and the sink into one pipeline (Spark's StreamingContext).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/batch_info.h"
#include "engine/block_generator.h"
#include "engine/block_store.h"
#include "engine/continuous_scheduler.h"
#include "engine/executor.h"
#include "engine/interval_scheduler.h"
#include "engine/memory_budget.h"
#include "engine/pid_rate_estimator.h"
#include "engine/rate_limiter.h"
#include "engine/stream_id_allocator.h"
#include "engine/task_queue.h"
#include "model/model_bundle.h"
#include "observe/pipeline_metrics.h"
#include "sink/sink.h"
#include "source/source.h"
#include "store/write_ahead_log.h"

namespace sluice::engine {

enum class BatchMode {
  kInterval,    // Spark: a batch every batch interval
  kContinuous,  // Triton: a batch when max_batch frames wait, or the oldest waited max_delay
};

struct EngineConfig {
  BatchMode mode = BatchMode::kInterval;
  std::chrono::microseconds max_delay{5000};  // continuous mode
  std::chrono::milliseconds batch_interval{1000};
  std::chrono::milliseconds block_interval{200};
  int executors = 1;
  int cores = 1;  // model threads per executor
  std::size_t max_batch = 64;
  int top_k = 5;
  std::size_t memory_budget = 512u << 20;  // resident memory bound, bytes
  std::uint64_t max_pixels = vision::kDefaultMaxPixels;
  bool jpeg_dct_scaling = false;  // opt-in, not exact: see vision::ImageDecoder::set_scaling_target
  /// Spark's spark.streaming.backpressure.enabled: a PID estimator per source sets its rate.
  bool backpressure = false;
  double initial_rate = 0.0;  // records/s per source before the first estimate; 0 = none
  double max_rate = 0.0;      // records/s per source, always enforced; 0 = unlimited
  PidSettings pid;
  /// Where received blocks wait (Spark's StorageLevel); spill files go to spill.dir.
  SpillPolicy spill;

  /// Checks ranges and relations (block interval <= batch interval, ...).
  Status validate() const;
};

class StreamingContext {
 public:
  /// `bundle` and `sink` must outlive the context.
  StreamingContext(EngineConfig config, const model::ModelBundle& bundle, sink::Sink& sink);
  ~StreamingContext();
  StreamingContext(const StreamingContext&) = delete;
  StreamingContext& operator=(const StreamingContext&) = delete;

  /// Adds a source before start().
  void add_source(std::unique_ptr<source::Source> source);
  /// Adds a listener before start(); it must outlive the context.
  void add_listener(BatchListener* listener);
  /// Logs every accepted frame in `wal` before it counts as stored, records completed batches,
  /// and first replays what the log holds without a result. Call before start(); `wal` must
  /// outlive the context.
  void set_write_ahead_log(store::WriteAheadLog* wal, std::string dir);

  /// Loads one model session per executor, then starts the scheduler and the sources.
  Status start();
  /// Graceful stop: sources stop receiving, every accepted frame is processed and its line
  /// written, the sink is flushed. Idempotent.
  void stop();

  observe::PipelineMetrics& metrics() { return metrics_; }
  const EngineConfig& config() const { return config_; }
  source::Source& source(std::size_t i) { return *sources_[i]; }
  std::size_t source_count() const { return sources_.size(); }
  /// Per-source counters and state; valid after start().
  const observe::SourceStats& source_stats(std::size_t i) const { return *source_stats_[i]; }
  const model::ModelBundle& bundle() const { return bundle_; }
  std::size_t store_bytes() const { return store_.bytes(); }
  /// The records/s source `i` is held to now (0 = unlimited).
  double rate_limit(std::size_t i) const { return i < limiters_.size() ? limiters_[i]->rate() : 0.0; }
  std::size_t store_blocks() const { return store_.blocks(); }
  std::size_t queued_tasks() const { return tasks_.size(); }
  std::size_t budget_held() const { return budget_.held(); }
  /// The first executor's model description, for logs.
  std::string model_description() const;

 private:
  class Receiver;
  void submit_batch(std::vector<Block> blocks, Clock::time_point batch_time);
  void executor_loop(Executor& executor);
  void finish_batch(BatchRun& batch);
  /// Applies --max-rate to a rate (0 = unlimited).
  double cap_rate(double rate) const;

  EngineConfig config_;
  const model::ModelBundle& bundle_;
  sink::Sink& sink_;
  observe::PipelineMetrics metrics_;
  MemoryBudget budget_;
  BlockStore store_;
  TaskQueue<Task> tasks_;
  std::vector<std::unique_ptr<source::Source>> sources_;
  std::vector<std::unique_ptr<BlockGenerator>> generators_;
  std::vector<std::unique_ptr<observe::SourceStats>> source_stats_;
  /// Per source: the limiter its stores wait on, and (with backpressure) the PID estimator.
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
  std::vector<std::optional<PidRateEstimator>> estimators_;
  Clock::time_point started_at_{};
  std::mutex rate_mu_;  // estimators are updated from executor threads
  std::vector<std::unique_ptr<Receiver>> receivers_;
  std::vector<BatchListener*> listeners_;
  std::vector<std::unique_ptr<Executor>> executors_;
  std::vector<std::thread> executor_threads_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::atomic<std::size_t> busy_executors_{0};
  store::WriteAheadLog* wal_ = nullptr;
  std::string wal_dir_;
  StreamIdAllocator stream_ids_;
  std::uint64_t next_batch_id_ = 1;  // scheduler thread only
  std::mutex stop_mu_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sluice::engine
