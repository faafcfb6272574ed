// DedupIndex: remembers which (stream, seq) pairs already have a result line.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>

namespace sluice::sink {

/// Per stream, the seen seqs as disjoint half-open ranges [first, end). A stream whose frames
/// finish in order, from whatever seq it starts at, costs one range; memory grows only with the
/// gaps. Not thread-safe.
class DedupIndex {
 public:
  bool contains(std::uint64_t stream, std::uint64_t seq) const;
  /// True the first time a pair is inserted, false for a repeat.
  bool insert(std::uint64_t stream, std::uint64_t seq);
  /// Drops a stream that can get no more lines (its frames are all done and its id is never
  /// reused).
  void forget(std::uint64_t stream);
  /// Drops every stream for which `keep` is false.
  void retain(const std::function<bool(std::uint64_t stream)>& keep);

  std::size_t streams() const { return streams_.size(); }
  std::size_t ranges() const { return ranges_; }
  /// Approximate heap bytes (node-based containers: one node per stream and per range).
  std::size_t memory_bytes() const { return streams_.size() * kStreamBytes + ranges_ * kRangeBytes; }

 private:
  static constexpr std::size_t kStreamBytes = 96;  // hash node + empty map
  static constexpr std::size_t kRangeBytes = 64;   // tree node with two u64
  std::unordered_map<std::uint64_t, std::map<std::uint64_t, std::uint64_t>> streams_;  // first -> end
  std::size_t ranges_ = 0;
};

}  // namespace sluice::sink
