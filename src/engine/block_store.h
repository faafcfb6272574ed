// BlockStore: where sealed blocks wait for their batch. Storage level "memory".
#pragma once

#include <deque>
#include <mutex>
#include <vector>

#include "engine/block.h"

namespace sluice::engine {

/// Thread-safe FIFO of sealed blocks. Its size is bounded by the memory budget that every frame
/// acquired before it was stored.
class BlockStore {
 public:
  void put(Block block);
  /// Removes and returns every block stored so far, in arrival order.
  std::vector<Block> take_all();
  std::size_t blocks() const;
  std::size_t bytes() const;

 private:
  mutable std::mutex mu_;
  std::deque<Block> blocks_;
  std::size_t bytes_ = 0;
};

}  // namespace sluice::engine
