// SpillFile: the payloads of one block, moved from memory to disk (storage levels
// memory_and_disk and disk).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "net/socket.h"
#include "sluice/frame.h"
#include "sluice/status.h"

namespace sluice::store {

/// Owns its file: it is deleted when the last reference goes (when the block's batch is done).
/// Thread-safe for concurrent reads.
class SpillFile {
 public:
  /// Writes the payloads of `frames` to a new file in `dir` and empties them in memory.
  static Result<std::shared_ptr<SpillFile>> write(const std::string& dir, std::uint64_t block_id,
                                                  std::span<Frame> frames);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  /// Reads back the payload of frame `index` (in the order given to write()).
  Result<Payload> read(std::size_t index) const;
  std::uint64_t bytes() const { return bytes_; }

  SpillFile(std::string path, net::Fd fd, std::vector<std::pair<std::uint64_t, std::uint64_t>> extents,
            std::uint64_t bytes);

 private:
  std::string path_;
  net::Fd fd_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> extents_;  // offset, length per frame
  std::uint64_t bytes_;
};

}  // namespace sluice::store
