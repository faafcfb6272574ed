// RefusalLog: at most one log line per second per refusal reason, with the count it held back.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include "observe/source_stats.h"
#include "util/log_throttle.h"

namespace sluice::source {

/// A peer can make a listener refuse it as often as it likes: the log stays at one line per
/// reason per second, and that line says how many like it were suppressed.
class RefusalLog {
 public:
  using Clock = std::chrono::steady_clock;

  /// Logs `line` (a warning, prefixed by `source`) unless a line of this reason went out less
  /// than a second ago; then only counts it.
  void log(observe::RefuseReason reason, const std::string& source, const std::string& line,
           Clock::time_point now = Clock::now());

 private:
  std::array<LogThrottle, observe::kRefuseReasons> reasons_;
};

}  // namespace sluice::source
