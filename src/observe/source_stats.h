// SourceStats: one source's counters and state, for logs, metrics and the dashboard.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace sluice::observe {

enum class SourceState { kStarting, kRunning, kBackoff, kStopped, kFailed };

const char* source_state_name(SourceState state);

class SourceStats {
 public:
  explicit SourceStats(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> errors{0};  // framing errors, failed connects, plugin reports
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::uint64_t> streams_open{0};

  void set_state(SourceState state) { state_ = state; }
  SourceState state() const { return state_; }
  void set_last_error(std::string text);
  std::string last_error() const;

 private:
  std::string name_;
  std::atomic<SourceState> state_{SourceState::kStarting};
  mutable std::mutex mu_;
  std::string last_error_;
};

}  // namespace sluice::observe
