#include "engine/block_store.h"

namespace sluice::engine {

void BlockStore::put(Block block) {
  std::lock_guard lock(mu_);
  bytes_ += block.bytes;
  blocks_.push_back(std::move(block));
}

std::vector<Block> BlockStore::take_all() {
  std::lock_guard lock(mu_);
  std::vector<Block> out(std::make_move_iterator(blocks_.begin()), std::make_move_iterator(blocks_.end()));
  blocks_.clear();
  bytes_ = 0;
  return out;
}

std::size_t BlockStore::blocks() const {
  std::lock_guard lock(mu_);
  return blocks_.size();
}

std::size_t BlockStore::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace sluice::engine
