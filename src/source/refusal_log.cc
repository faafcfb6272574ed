#include "source/refusal_log.h"

#include <spdlog/spdlog.h>

namespace sluice::source {

void RefusalLog::log(observe::RefuseReason reason, const std::string& source, const std::string& line,
                     Clock::time_point now) {
  auto& r = reasons_[static_cast<std::size_t>(reason)];
  if (r.logged && now - r.last < std::chrono::seconds(1)) {
    ++r.suppressed;
    return;
  }
  if (r.suppressed > 0) {
    spdlog::warn("{}: {} ({} more refusal(s) of reason {} since the last such line were not logged)", source,
                 line, r.suppressed, observe::refuse_reason_name(reason));
  } else {
    spdlog::warn("{}: {}", source, line);
  }
  r.last = now;
  r.logged = true;
  r.suppressed = 0;
}

}  // namespace sluice::source
