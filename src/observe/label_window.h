// LabelWindow: how often each top-1 label was predicted during the last minute.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sluice/frame.h"
#include "util/mutex.h"

namespace sluice::observe {

struct LabelCount {
  std::string label;
  std::uint64_t count = 0;
};

class LabelWindow {
 public:
  static constexpr int kSeconds = 60;

  /// Counts one prediction of class `index` (named `label`, which may be empty) at `now`.
  void add(int index, std::string_view label, Clock::time_point now);
  /// The `n` most frequent labels of the `kSeconds` before `now`, most frequent first.
  std::vector<LabelCount> top(std::size_t n, Clock::time_point now) const;

 private:
  // One slot per second, reused round-robin: a slot whose second is older than the window is
  // stale and is cleared on its next use. Keyed by class index, so counting allocates nothing
  // once a class has been seen.
  struct Slot {
    std::int64_t second = -1;
    std::unordered_map<int, std::uint64_t> counts;
  };
  static std::int64_t second_of(Clock::time_point t);

  mutable Mutex mu_;
  std::array<Slot, kSeconds> slots_ GUARDED_BY(mu_);
  std::map<int, std::string> names_ GUARDED_BY(mu_);
};

}  // namespace sluice::observe
