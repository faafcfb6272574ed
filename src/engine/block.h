// Block: the frames one source received during one block interval (Spark's block). A batch's
// blocks are its partitions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sluice/frame.h"

namespace sluice::engine {

struct Block {
  std::uint64_t id = 0;
  std::size_t source = 0;  // index of the receiving source
  Clock::time_point sealed{};
  std::vector<Frame> frames;
  std::size_t bytes = 0;  // payload bytes of `frames`
};

}  // namespace sluice::engine
