#include "sink/dedup_index.h"

namespace sluice::sink {

bool DedupIndex::insert(std::uint64_t stream, std::uint64_t seq) {
  auto& s = streams_[stream];
  if (seq < s.contiguous || !s.above.insert(seq).second) return false;
  while (!s.above.empty() && *s.above.begin() == s.contiguous) {
    s.above.erase(s.above.begin());
    ++s.contiguous;
  }
  return true;
}

}  // namespace sluice::sink
