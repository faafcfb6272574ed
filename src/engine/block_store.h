// BlockStore: where sealed blocks wait for their batch, at a storage level (Spark's
// StorageLevel): in memory, on disk, or in memory until it runs short and on disk beyond.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/block.h"
#include "engine/memory_budget.h"
#include "sluice/pipeline_config.h"
#include "sluice/status.h"
#include "util/mutex.h"

namespace sluice::engine {

using StorageLevel = sluice::StorageLevel;
Result<StorageLevel> parse_storage_level(const std::string& text);
const char* storage_level_name(StorageLevel level);

struct SpillPolicy {
  StorageLevel level = StorageLevel::kMemory;
  std::string dir;                         // where spill files go
  std::uint64_t disk_budget = 8ull << 30;  // most spilled bytes at once; past it blocks stay in memory
};

/// Thread-safe FIFO of sealed blocks. In memory, its size is bounded by the memory budget every
/// frame acquired before it was stored. A spilled block gives its budget back at once (its
/// payloads are on disk) and is read back, in order, by the executor that processes it.
class BlockStore {
 public:
  BlockStore() = default;
  /// Sets the storage level; `budget` is the one the frames acquired. Call before any put().
  void configure(SpillPolicy policy, MemoryBudget* budget);

  /// Stores a block, spilling it first when the level says so. A spill that fails keeps the
  /// block in memory (and logs why): nothing is lost.
  void put(Block block);
  /// Removes and returns every block stored so far, in arrival order.
  std::vector<Block> take_all();
  std::size_t blocks() const;
  std::size_t bytes() const;  // payload bytes in memory
  std::uint64_t spilled_blocks() const { return spilled_blocks_; }
  /// Spilled bytes not yet processed.
  std::uint64_t spilled_bytes() const;

 private:
  bool should_spill(const Block& block) const;

  SpillPolicy policy_;
  MemoryBudget* budget_ = nullptr;
  mutable Mutex mu_;
  std::deque<Block> blocks_ GUARDED_BY(mu_);
  std::size_t bytes_ GUARDED_BY(mu_) = 0;
  std::atomic<std::uint64_t> spilled_blocks_{0};
  std::vector<std::weak_ptr<const void>> live_spills_ GUARDED_BY(mu_);  // to total the bytes still on disk
};

}  // namespace sluice::engine
