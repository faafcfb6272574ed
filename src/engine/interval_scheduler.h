// IntervalScheduler: Spark Streaming's interval mode. Every block interval it cuts each source's
// frames into a block; every batch interval it makes the stored blocks one batch.
#pragma once

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "engine/batch_scheduler.h"
#include "engine/block_generator.h"
#include "engine/block_store.h"
#include "util/mutex.h"

namespace sluice::engine {

struct IntervalOptions {
  std::chrono::milliseconds batch_interval{1000};
  std::chrono::milliseconds block_interval{200};
};

class IntervalScheduler final : public BatchScheduler {
 public:
  IntervalScheduler(IntervalOptions options, std::vector<BlockGenerator*> generators, BlockStore& store,
                    SubmitBatch submit);
  ~IntervalScheduler() override;

  void start() override;
  /// Cuts a last block from every generator, submits a last batch, and joins the thread.
  /// Call it after the sources have stopped, so the last batch holds every accepted frame.
  void stop() override;

 private:
  void run();
  void seal_blocks(Clock::time_point now);
  void cut_batch(Clock::time_point batch_time);

  IntervalOptions options_;
  std::vector<BlockGenerator*> generators_;
  BlockStore& store_;
  SubmitBatch submit_;
  std::uint64_t next_block_id_ = 1;
  Mutex mu_;
  CondVar wake_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sluice::engine
