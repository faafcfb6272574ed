// StreamingContext: wires sources, admission, block generators, the block store, the batch
// scheduler, the executors and the committer into one pipeline (Spark's StreamingContext).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/admission.h"
#include "engine/batch_info.h"
#include "engine/batch_scheduler.h"
#include "engine/block_generator.h"
#include "engine/block_store.h"
#include "engine/committer.h"
#include "engine/executor.h"
#include "engine/memory_budget.h"
#include "engine/rate_controller.h"
#include "engine/result_listener.h"
#include "engine/stream_id_allocator.h"
#include "engine/stream_ledger.h"
#include "engine/task_queue.h"
#include "model/model_bundle.h"
#include "observe/pipeline_metrics.h"
#include "sink/sink.h"
#include "sluice/pipeline_config.h"
#include "source/source.h"
#include "store/write_ahead_log.h"

namespace sluice::engine {

class StreamingContext {
 public:
  /// Applies with_defaults() to `config`. `bundle` and `sink` must outlive the context.
  StreamingContext(PipelineConfig config, const model::ModelBundle& bundle, sink::Sink& sink);
  ~StreamingContext();
  StreamingContext(const StreamingContext&) = delete;
  StreamingContext& operator=(const StreamingContext&) = delete;

  // --- Before start().
  void add_source(std::unique_ptr<source::Source> source);
  /// Listeners must outlive the context.
  void add_listener(BatchListener* listener);
  void add_result_listener(ResultListener* listener);
  /// Logs every accepted frame in `wal` before it is admitted, records frames done, and first
  /// replays what the log holds without a result. The stream-id state goes in its directory.
  void set_write_ahead_log(store::WriteAheadLog* wal);
  /// Stream ids the server numbers itself start above `highest_used` (an output's existing lines).
  void set_stream_id_floor(std::uint64_t highest_used) { stream_ids_.raise_floor(highest_used); }
  /// Loads one model session per executor and runs each once on a full blank batch (start() does
  /// it when not done yet).
  Status load();
  /// Bytes of data in flight (config.memory_budget until set here): a quarter for decoding, the
  /// rest for frames, whole and partial.
  void set_memory_budget(std::size_t bytes);
  /// Starts the committer, the executors, the scheduler and the sources.
  Status start();

  /// Graceful stop: sources stop receiving, every accepted frame is processed, and its line
  /// committed (while the sink fails, until `deadline`). Idempotent. Returns the accepted frames
  /// left without a line.
  std::uint64_t stop(Clock::time_point deadline = Clock::time_point::max());

  // --- Reading the running pipeline (any thread).
  observe::PipelineMetrics& metrics() { return metrics_; }
  const observe::PipelineMetrics& metrics() const { return metrics_; }
  const PipelineConfig& config() const { return config_; }
  const std::string& plan_reason() const { return plan_reason_; }
  std::size_t source_count() const { return sources_.size(); }
  source::Source& source(std::size_t i) { return *sources_[i]; }
  /// Per-source counters and state; valid after start().
  const observe::SourceStats& source_stats(std::size_t i) const { return *source_stats_[i]; }
  const model::ModelBundle& bundle() const { return bundle_; }
  double rate_limit(std::size_t i) const { return rates_.rate(i); }
  std::size_t store_bytes() const { return store_.bytes(); }
  std::size_t store_blocks() const { return store_.blocks(); }
  std::size_t queued_tasks() const { return tasks_.size(); }
  std::size_t budget_held() const { return budget_.held(); }
  std::size_t budget_limit() const { return budget_.limit(); }
  /// False while the output cannot be written (see sink_error()).
  bool sink_healthy() const { return committer_.healthy(); }
  std::string sink_error() const { return committer_.last_error(); }
  /// Results ready but not durable yet.
  std::uint64_t lines_waiting() const { return committer_.frames_waiting(); }
  const store::WriteAheadLog* wal() const { return wal_; }
  /// The first executor's model description, for logs.
  std::string model_description() const;

 private:
  void submit_batch(std::vector<Block> blocks, Clock::time_point batch_time);
  void executor_loop(Executor& executor);
  void batch_committed(BatchRun& batch);

  std::string plan_reason_;  // before config_: its initialiser writes it
  PipelineConfig config_;
  const model::ModelBundle& bundle_;
  sink::Sink& sink_;
  observe::PipelineMetrics metrics_;
  MemoryBudget budget_;         // frames in flight, whole and partial; the dedup index
  MemoryBudget decode_budget_;  // decoded pixels and resize buffers
  BlockStore store_;
  TaskQueue<Task> tasks_;
  RateController rates_;
  StreamLedger stream_ledger_;  // before the committer, whose thread uses it
  Committer committer_;
  StreamIdAllocator stream_ids_;
  store::WriteAheadLog* wal_ = nullptr;
  std::vector<std::unique_ptr<source::Source>> sources_;
  std::vector<std::unique_ptr<BlockGenerator>> generators_;
  std::vector<std::unique_ptr<observe::SourceStats>> source_stats_;
  std::vector<std::unique_ptr<SourcePort>> ports_;
  std::vector<BatchListener*> listeners_;
  std::vector<std::unique_ptr<Executor>> executors_;
  std::vector<std::thread> executor_threads_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::atomic<std::size_t> busy_executors_{0};
  Clock::time_point started_at_{};
  std::uint64_t next_batch_id_ = 1;  // scheduler thread only
  std::mutex stop_mu_;
  bool started_ = false;
  bool stopped_ = false;
  std::uint64_t left_without_line_ = 0;
};

}  // namespace sluice::engine
