#include "engine/block_generator.h"

namespace sluice::engine {

void BlockGenerator::append(Frame frame) {
  MutexLock lock(mu_);
  if (current_.empty()) oldest_ = frame.arrival;
  current_bytes_ += frame.payload.size();
  current_.push_back(std::move(frame));
}

std::optional<Block> BlockGenerator::seal(std::uint64_t block_id, Clock::time_point now) {
  Block block;
  {
    MutexLock lock(mu_);
    if (current_.empty()) return std::nullopt;
    block.frames.swap(current_);
    block.bytes = current_bytes_;
    current_bytes_ = 0;
  }
  block.id = block_id;
  block.source = source_;
  block.sealed = now;
  return block;
}

std::size_t BlockGenerator::pending() const {
  MutexLock lock(mu_);
  return current_.size();
}

std::optional<Clock::time_point> BlockGenerator::oldest_arrival() const {
  MutexLock lock(mu_);
  if (current_.empty()) return std::nullopt;
  return oldest_;
}

}  // namespace sluice::engine
