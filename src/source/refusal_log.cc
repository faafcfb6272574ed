#include "source/refusal_log.h"

#include <spdlog/spdlog.h>

namespace sluice::source {

void RefusalLog::log(observe::RefuseReason reason, const std::string& source, const std::string& line,
                     Clock::time_point now) {
  const auto held_back = reasons_[static_cast<std::size_t>(reason)].admit(now);
  if (!held_back) return;
  if (*held_back > 0) {
    spdlog::warn("{}: {} ({} more refusal(s) of reason {} since the last such line were not logged)", source,
                 line, *held_back, observe::refuse_reason_name(reason));
  } else {
    spdlog::warn("{}: {}", source, line);
  }
}

}  // namespace sluice::source
