// InFlightTable: the Redis entries a worker holds (delivered to it, not acknowledged yet).
#pragma once

#include <cstdint>

#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/frame.h"
#include "util/mutex.h"

namespace sluice::redis {

struct InFlightEntry {
  int partition = 0;
  std::string id;               // the entry id in frames stream `partition`
  int deliveries = 1;           // Redis' delivery count for this entry, this delivery included
  Clock::time_point touched{};  // delivered to us, or last heartbeat (XCLAIM JUSTID)
};

/// Frame::token -> entry. Tokens are unique for the life of the table (a counter from 1), so a
/// frame delivered twice (a re-sent duplicate, a reclaim) has two tokens. Thread-safe.
class InFlightTable {
 public:
  /// Registers an entry and returns its token.
  std::uint64_t add(InFlightEntry entry);
  std::optional<InFlightEntry> find(std::uint64_t token) const;
  /// Forgets the entries of `frames` (their results are written and acknowledged, or given up).
  void remove(std::span<const Frame> frames);
  void erase(std::uint64_t token);
  std::size_t size() const;

  /// The entries touched before `before`, grouped by partition (their ids), now marked touched at
  /// `now`: the ones whose idle time the worker must reset so no other worker reclaims them.
  std::vector<std::vector<std::string>> take_due(Clock::time_point before, Clock::time_point now,
                                                 int partitions);

 private:
  mutable Mutex mu_;
  std::unordered_map<std::uint64_t, InFlightEntry> entries_ GUARDED_BY(mu_);
  std::uint64_t next_token_ GUARDED_BY(mu_) = 1;
};

}  // namespace sluice::redis
