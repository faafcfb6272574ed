#include "redis/inflight_table.h"

namespace sluice::redis {

std::uint64_t InFlightTable::add(InFlightEntry entry) {
  MutexLock lock(mu_);
  const std::uint64_t token = next_token_++;
  entries_.emplace(token, std::move(entry));
  return token;
}

std::optional<InFlightEntry> InFlightTable::find(std::uint64_t token) const {
  MutexLock lock(mu_);
  const auto it = entries_.find(token);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void InFlightTable::remove(std::span<const Frame> frames) {
  MutexLock lock(mu_);
  for (const auto& f : frames) entries_.erase(f.token);
}

void InFlightTable::erase(std::uint64_t token) {
  MutexLock lock(mu_);
  entries_.erase(token);
}

std::size_t InFlightTable::size() const {
  MutexLock lock(mu_);
  return entries_.size();
}

std::vector<std::vector<std::string>> InFlightTable::take_due(Clock::time_point before, Clock::time_point now,
                                                              int partitions) {
  std::vector<std::vector<std::string>> due(static_cast<std::size_t>(partitions));
  MutexLock lock(mu_);
  for (auto& [token, e] : entries_) {
    if (e.touched >= before || e.partition < 0 || e.partition >= partitions) continue;
    due[static_cast<std::size_t>(e.partition)].push_back(e.id);
    e.touched = now;
  }
  return due;
}

}  // namespace sluice::redis
