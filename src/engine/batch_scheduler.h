// BatchScheduler: decides when the frames received so far become a batch. Two implementations,
// as Triton has several schedulers: IntervalScheduler (Spark's batch interval) and
// ContinuousScheduler (Triton's dynamic batching).
#pragma once

#include <functional>
#include <vector>

#include "engine/block.h"

namespace sluice::engine {

class BatchScheduler {
 public:
  /// Receives every non-empty batch: its blocks, and the batch time.
  using SubmitBatch = std::function<void(std::vector<Block>, Clock::time_point)>;

  virtual ~BatchScheduler() = default;
  virtual void start() = 0;
  /// Cuts a last batch with every frame still waiting, and joins the scheduler's thread. Call
  /// it after the sources have stopped, so the last batch holds every accepted frame.
  virtual void stop() = 0;
  /// Called by the receivers after frames were appended; a scheduler that reacts to arrivals
  /// (continuous mode) wakes up. Must be cheap.
  virtual void frames_arrived() {}
};

}  // namespace sluice::engine
