// DedupIndex: remembers which (stream, seq) pairs already have a result line.
#pragma once

#include <cstdint>
#include <set>
#include <unordered_map>

namespace sluice::sink {

/// Memory stays small when each stream's frames finish roughly in order: per stream it keeps a
/// watermark below which every seq has been seen, plus the seen seqs above it.
class DedupIndex {
 public:
  /// True the first time a pair is inserted, false for a repeat.
  bool insert(std::uint64_t stream, std::uint64_t seq);
  std::size_t streams() const { return streams_.size(); }

 private:
  struct PerStream {
    std::uint64_t contiguous = 0;  // every seq < contiguous has been seen
    std::set<std::uint64_t> above;
  };
  std::unordered_map<std::uint64_t, PerStream> streams_;
};

}  // namespace sluice::sink
