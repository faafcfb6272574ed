// StreamIdAllocator: ids for the streams the server numbers itself (plain seed connections).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "sluice/status.h"

namespace sluice::engine {

/// Hands out 1, 2, 3, ... With a state file, ids are never reused across restarts: ids are
/// reserved in blocks and the end of the reserved block is persisted before any id in it is
/// used, so a crash at worst skips ids. That keeps (stream, seq) unique for a deduplicating sink.
class StreamIdAllocator {
 public:
  /// Continues from the state file at `path` (created on first use). Call before next().
  void persist_in(const std::string& path);

  std::uint64_t next();

 private:
  static constexpr std::uint64_t kBlock = 1024;
  Status persist(std::uint64_t reserved_end);
  std::mutex mu_;
  std::string path_;
  std::uint64_t next_ = 1;
  std::uint64_t reserved_end_ = UINT64_MAX;  // without a file, everything is "reserved"
};

}  // namespace sluice::engine
