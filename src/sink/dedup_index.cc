#include "sink/dedup_index.h"

namespace sluice::sink {

bool DedupIndex::contains(std::uint64_t stream, std::uint64_t seq) const {
  const auto s = streams_.find(stream);
  if (s == streams_.end()) return false;
  auto it = s->second.upper_bound(seq);  // first range starting after seq
  if (it == s->second.begin()) return false;
  --it;
  return seq < it->second;
}

bool DedupIndex::insert(std::uint64_t stream, std::uint64_t seq) {
  auto& ranges = streams_[stream];
  auto next = ranges.upper_bound(seq);
  if (next != ranges.begin()) {
    auto prev = std::prev(next);
    if (seq < prev->second) return false;
    if (prev->second == seq) {  // extends the range before it, maybe joining the one after
      prev->second = seq + 1;
      if (next != ranges.end() && next->first == prev->second) {
        prev->second = next->second;
        ranges.erase(next);
        --ranges_;
      }
      return true;
    }
  }
  if (next != ranges.end() && next->first == seq + 1) {  // extends the range after it downwards
    const std::uint64_t end = next->second;
    ranges.erase(next);
    ranges.emplace(seq, end);
    return true;
  }
  ranges.emplace(seq, seq + 1);
  ++ranges_;
  return true;
}

void DedupIndex::forget(std::uint64_t stream) {
  const auto s = streams_.find(stream);
  if (s == streams_.end()) return;
  ranges_ -= s->second.size();
  streams_.erase(s);
}

void DedupIndex::retain(const std::function<bool(std::uint64_t)>& keep) {
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (keep(it->first)) {
      ++it;
    } else {
      ranges_ -= it->second.size();
      it = streams_.erase(it);
    }
  }
}

}  // namespace sluice::sink
