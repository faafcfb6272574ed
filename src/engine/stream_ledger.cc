#include "engine/stream_ledger.h"

#include <utility>

#include "wire/protocol_v2.h"

namespace sluice::engine {

bool StreamLedger::tracked_id(std::uint64_t stream) {
  return stream < wire::kMinProducerStreamId;
}

void StreamLedger::entered(std::span<const Frame> frames) {
  MutexLock lock(mu_);
  for (const auto& f : frames) {
    if (tracked_id(f.stream)) ++streams_[f.stream].in_flight;
  }
}

void StreamLedger::closed(std::uint64_t stream) {
  if (!tracked_id(stream)) return;
  MutexLock lock(mu_);
  const auto it = streams_.find(stream);
  if (it == streams_.end()) {
    finished_.push_back(stream);  // nothing in flight: finished now
    return;
  }
  it->second.closed = true;
}

void StreamLedger::done(std::span<const Frame> frames) {
  MutexLock lock(mu_);
  for (const auto& f : frames) {
    const auto it = streams_.find(f.stream);
    if (it == streams_.end()) continue;
    if (it->second.in_flight > 0) --it->second.in_flight;
    finish_if_drained(it);
  }
}

void StreamLedger::finish_if_drained(std::unordered_map<std::uint64_t, Entry>::iterator it) {
  if (it->second.in_flight > 0) return;
  // An entry lives only while frames are in flight: an idle open stream, or one replayed from the
  // log that this run never closes, costs nothing.
  if (it->second.closed) finished_.push_back(it->first);
  streams_.erase(it);
}

std::vector<std::uint64_t> StreamLedger::take_finished() {
  MutexLock lock(mu_);
  return std::exchange(finished_, {});
}

std::size_t StreamLedger::tracked() const {
  MutexLock lock(mu_);
  return streams_.size();
}

}  // namespace sluice::engine
