// BatchRun, Task and TaskOutcome: a batch in flight, the unit of work an executor takes from it,
// and what the executor hands the committer.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "engine/batch_info.h"
#include "engine/block.h"
#include "sink/result_record.h"

namespace sluice::engine {

struct BatchRun {
  BatchInfo info;
  // The partitions. Once the batch is submitted the vector does not change; each task may drop
  // the payloads of its own frames once they are decoded.
  std::vector<Block> blocks;
  std::atomic<std::size_t> tasks_uncommitted{0};
  std::atomic<std::size_t> failed{0};
  // Clock ticks (time_since_epoch) of the first task's start; max() until one starts.
  std::atomic<Clock::rep> first_start{std::numeric_limits<Clock::rep>::max()};
};

/// Frames [begin, end) of one block of one batch: at most max-batch frames, one model call.
/// Tickets number tasks in the order they were submitted; lines are committed in that order,
/// so each stream's lines leave in seq order.
struct Task {
  std::shared_ptr<BatchRun> batch;
  std::size_t block = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
  std::uint64_t ticket = 0;

  std::span<const Frame> frames() const {
    return std::span<const Frame>(batch->blocks[block].frames).subspan(begin, end - begin);
  }
};

/// One result per frame of a task, and what its frames reserved of the memory budget. Pooled by
/// the committer: the vectors keep their capacity, so the hot path does not allocate.
struct TaskOutcome {
  Task task;
  std::vector<sink::ResultRecord> records;  // the first `count` are this task's
  std::size_t count = 0;
  std::size_t reserved_bytes = 0;

  std::span<sink::ResultRecord> results() { return std::span(records).first(count); }
};

}  // namespace sluice::engine
