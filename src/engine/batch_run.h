// BatchRun and Task: a batch in flight, and the unit of work an executor takes from it.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "engine/batch_info.h"
#include "engine/block.h"

namespace sluice::engine {

struct BatchRun {
  BatchInfo info;
  // The partitions. Once the batch is submitted the vector does not change; each task may drop
  // the payloads of its own frames after writing their lines.
  std::vector<Block> blocks;
  std::atomic<std::size_t> tasks_left{0};
  std::atomic<std::size_t> failed{0};
  // Clock ticks (time_since_epoch) of the first task's start; max() until one starts.
  std::atomic<Clock::rep> first_start{std::numeric_limits<Clock::rep>::max()};
};

/// Frames [begin, end) of one block of one batch: at most max-batch frames, one model call.
struct Task {
  std::shared_ptr<BatchRun> batch;
  std::size_t block = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
};

}  // namespace sluice::engine
