// ContinuousScheduler: Triton's dynamic batching. A batch leaves as soon as max_batch frames
// wait, or once the oldest waiting frame has waited max_delay and an executor is free to take it.
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

struct ContinuousOptions {
  std::size_t max_batch = 64;
  std::chrono::microseconds max_delay{5000};
};

class ContinuousScheduler final : public BatchScheduler {
 public:
  /// `executors_busy` tells whether every executor has work queued: while it is true, frames
  /// keep gathering (into a fuller batch) instead of leaving in small ones after max_delay.
  ContinuousScheduler(ContinuousOptions options, std::vector<BlockGenerator*> generators, BlockStore& store,
                      SubmitBatch submit, std::function<bool()> executors_busy);
  ~ContinuousScheduler() override;

  void start() override;
  void stop() override;
  void frames_arrived() override;

 private:
  void run();
  void cut(Clock::time_point now);

  ContinuousOptions options_;
  std::vector<BlockGenerator*> generators_;
  BlockStore& store_;
  SubmitBatch submit_;
  std::function<bool()> executors_busy_;
  std::uint64_t next_block_id_ = 1;
  Mutex mu_;
  CondVar wake_;
  bool arrived_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sluice::engine
