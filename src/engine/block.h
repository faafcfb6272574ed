// Block: the frames one source received during one block interval (Spark's block). A batch's
// blocks are its partitions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/frame.h"
#include "store/spill_file.h"

namespace sluice::engine {

struct Block {
  std::uint64_t id = 0;
  std::size_t source = 0;  // index of the receiving source
  Clock::time_point sealed{};
  std::vector<Frame> frames;
  std::size_t bytes = 0;  // payload bytes of `frames`
  /// Set when the payloads were spilled to disk: the frames' payloads are empty and are read
  /// back from here, by index, when the block is processed.
  std::shared_ptr<store::SpillFile> spill;
};

}  // namespace sluice::engine
