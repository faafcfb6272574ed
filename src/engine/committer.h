// Committer: the one place a frame becomes done.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_run.h"
#include "engine/memory_budget.h"
#include "engine/result_listener.h"
#include "observe/pipeline_metrics.h"
#include "sink/sink.h"
#include "sluice/pipeline_config.h"
#include "store/write_ahead_log.h"
#include "util/mutex.h"

namespace sluice::engine {

/// Executors hand it each task's results; it writes them to the sink in ticket order (the order
/// tasks were submitted, so each stream's lines leave in seq order), group-committed: one write
/// and, when the fsync policy says so, one fsync for everything ready. Only then, for each frame,
/// in this order: the write-ahead log records it done, its source acknowledges it (acks, dir
/// files), it is counted, listeners hear of it, and its memory reservation is released.
///
/// When the sink fails, nothing is done: the results wait and are written again with backoff,
/// and admission is paused (sources stop reading) until a write succeeds.
class Committer {
 public:
  struct Services {
    sink::Sink& sink;
    MemoryBudget& budget;
    observe::PipelineMetrics& metrics;
    store::WriteAheadLog* wal = nullptr;
    /// The frames' source acknowledges them (Source::on_frames_done).
    std::function<void(std::size_t source, std::span<const Frame> frames)> frames_done;
    /// Every task of the batch is committed: batch statistics, rate control, batch listeners.
    std::function<void(BatchRun& batch)> batch_committed;
  };
  struct Policy {
    FsyncPolicy fsync = FsyncPolicy::kNever;
    std::chrono::milliseconds fsync_interval{100};
  };

  Committer(Services services, Policy policy);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  /// Before start().
  void add_listener(ResultListener* listener);
  void set_wal(store::WriteAheadLog* wal) { services_.wal = wal; }
  void start();

  /// The next ticket, in submission order (the scheduler's thread).
  std::uint64_t next_ticket() { return issued_.fetch_add(1, std::memory_order_relaxed); }
  /// An outcome to fill, from the pool (executor threads).
  std::unique_ptr<TaskOutcome> take_outcome();
  /// Hands over a filled outcome (executor threads).
  void complete(std::unique_ptr<TaskOutcome> outcome);

  /// Commits everything completed so far, then stops. While the sink fails it keeps retrying
  /// until `deadline`. Returns the frames left without a line (0 when all are done).
  std::uint64_t stop(std::chrono::steady_clock::time_point deadline);

  /// False while the sink fails.
  bool healthy() const;
  std::string last_error() const;
  /// Frames whose results are ready but not durable yet.
  std::uint64_t frames_waiting() const { return waiting_frames_.load(std::memory_order_relaxed); }

 private:
  void run();
  /// Writes and commits the group, retrying while the sink fails; false when stopped first.
  bool deliver(std::vector<std::unique_ptr<TaskOutcome>>& group);
  void finish(std::vector<std::unique_ptr<TaskOutcome>>& group);
  /// fsync=interval: syncs the lines committed since the last fsync (commit thread).
  void sync_flushed_lines();
  sink::Durability durability();

  Services services_;
  Policy policy_;
  std::vector<ResultListener*> listeners_;
  std::atomic<std::uint64_t> issued_{0};
  std::atomic<std::uint64_t> waiting_frames_{0};

  mutable Mutex mu_;
  CondVar cv_;
  std::map<std::uint64_t, std::unique_ptr<TaskOutcome>> ready_ GUARDED_BY(mu_);
  std::uint64_t next_ GUARDED_BY(mu_) = 0;  // the ticket to commit next
  bool stopping_ GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point deadline_ GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point::max();
  bool healthy_ GUARDED_BY(mu_) = true;
  std::string last_error_ GUARDED_BY(mu_);
  std::uint64_t abandoned_frames_ GUARDED_BY(mu_) = 0;

  Mutex pool_mu_;
  std::vector<std::unique_ptr<TaskOutcome>> pool_ GUARDED_BY(pool_mu_);
  std::vector<std::uint64_t> lsns_;                    // commit thread only
  std::chrono::steady_clock::time_point last_sync_{};  // commit thread only
  bool unsynced_ = false;  // commit thread only: lines flushed since the last fsync
  std::thread thread_;
};

}  // namespace sluice::engine
