// BlockGenerator: collects one source's frames and cuts them into a block every block interval.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/block.h"
#include "util/mutex.h"

namespace sluice::engine {

/// Thread-safe: a source's threads append, the scheduler seals. Appending never blocks; the
/// memory budget, acquired before append, is what bounds it.
class BlockGenerator {
 public:
  explicit BlockGenerator(std::size_t source_index) : source_(source_index) {}

  void append(Frame frame);
  /// Cuts the frames gathered since the last call into a block; nothing when there were none.
  std::optional<Block> seal(std::uint64_t block_id, Clock::time_point now);

  /// Frames gathered since the last seal, and the arrival time of the oldest (for continuous
  /// mode's "full or waited long enough" rule).
  std::size_t pending() const;
  std::optional<Clock::time_point> oldest_arrival() const;

 private:
  const std::size_t source_;
  mutable Mutex mu_;
  std::vector<Frame> current_ GUARDED_BY(mu_);
  std::size_t current_bytes_ GUARDED_BY(mu_) = 0;
  Clock::time_point oldest_ GUARDED_BY(mu_){};
};

}  // namespace sluice::engine
