#include "observe/label_window.h"

#include <algorithm>

#include <fmt/format.h>

namespace sluice::observe {

std::int64_t LabelWindow::second_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void LabelWindow::add(int index, std::string_view label, Clock::time_point now) {
  const std::int64_t second = second_of(now);
  MutexLock lock(mu_);
  auto& slot = slots_[static_cast<std::size_t>(((second % kSeconds) + kSeconds) % kSeconds)];
  if (slot.second != second) {
    slot.counts.clear();
    slot.second = second;
  }
  ++slot.counts[index];
  if (!names_.contains(index)) {
    names_.emplace(index, label.empty() ? fmt::format("class {}", index) : std::string(label));
  }
}

std::vector<LabelCount> LabelWindow::top(std::size_t n, Clock::time_point now) const {
  const std::int64_t second = second_of(now);
  std::map<int, std::uint64_t> totals;
  std::vector<LabelCount> out;
  MutexLock lock(mu_);
  for (const auto& slot : slots_) {
    if (slot.second < 0 || slot.second <= second - kSeconds || slot.second > second) continue;
    for (const auto& [index, count] : slot.counts) totals[index] += count;
  }
  for (const auto& [index, count] : totals) out.push_back({names_.at(index), count});
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.count > b.count; });
  if (out.size() > n) out.resize(n);
  return out;
}

}  // namespace sluice::observe
