// StreamIdAllocator: ids for the streams the server numbers itself (plain seed connections, dir).
#pragma once

#include <cstdint>
#include <string>

#include "sluice/file_system.h"
#include "sluice/status.h"
#include "util/mutex.h"

namespace sluice::engine {

/// Hands out increasing ids, never one a deduplicating output or a write-ahead log already holds:
/// it starts above `floor()` (the highest id found there) and, with a state file, above every id
/// handed out by an earlier run. Ids are reserved in blocks; the end of the reserved block is
/// stored durably before any id in it is used, so a crash at worst skips ids. Thread-safe.
class StreamIdAllocator {
 public:
  /// Ids from now on are above `highest_used`.
  void raise_floor(std::uint64_t highest_used);
  /// Continues from the state file at `path` (created on first use).
  Status persist_in(fs::FileSystem& fs, const std::string& path);

  /// The next id, or an error when the state file cannot be written (the id is not handed out).
  Result<std::uint64_t> next();

 private:
  static constexpr std::uint64_t kBlock = 1024;
  Mutex mu_;
  fs::FileSystem* fs_ GUARDED_BY(mu_) = nullptr;
  std::string path_ GUARDED_BY(mu_);
  std::uint64_t next_ GUARDED_BY(mu_) = 1;
  std::uint64_t reserved_end_ GUARDED_BY(mu_) = UINT64_MAX;  // without a file, everything is "reserved"
};

}  // namespace sluice::engine
