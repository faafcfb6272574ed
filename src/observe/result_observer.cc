#include "observe/result_observer.h"

namespace sluice::observe {
namespace {
// Error texts are Status::to_string(): "<code name>: <message>".
std::string reason_of(const std::string& error) {
  const auto colon = error.find(':');
  return colon == std::string::npos ? std::string("unknown") : error.substr(0, colon);
}
}  // namespace

Status ResultObserver::write(std::span<const sink::ResultRecord> records) {
  const auto now = Clock::now();
  bool any_failed = false;
  for (const auto& r : records) {
    latency_.observe(r.latency_ms / 1000.0);
    if (!r.ok()) {
      any_failed = true;
    } else if (!r.top.empty()) {
      labels_.add(r.top.front().index, r.top.front().label, now);
    }
  }
  if (any_failed) {
    std::lock_guard lock(mu_);
    for (const auto& r : records) {
      if (!r.ok()) ++failures_[reason_of(r.error)];
    }
  }
  return next_.write(records);
}

std::map<std::string, std::uint64_t> ResultObserver::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace sluice::observe
