// HttpRejections: why the --http endpoint refused requests, counted for /metrics
// (sluice_http_rejected_total{reason}) and logged at most once per second per reason.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "observe/prometheus_text.h"
#include "util/log_throttle.h"

namespace sluice::http {

enum class RejectReason : std::size_t {
  kHost,             // 403: Host header not allowed (DNS rebinding)
  kMethod,           // 405: not GET or HEAD
  kBody,             // 413: a request body (sluice serves GET only)
  kHeadersTooLarge,  // 431: headers over the size or count limit
  kHeaderTimeout,    // 408: headers not complete within the header deadline (slowloris)
  kTooManyPending,   // the oldest half-received connection dropped for a new one
  kCount
};

/// The metric label of `reason`.
std::string_view reason_label(RejectReason reason);

class HttpRejections {
 public:
  /// Counts one rejection; logs `detail` (which names the rule) unless this reason logged in the
  /// last second, saying how many were not logged. Thread-safe.
  void record(RejectReason reason, std::string_view detail);
  std::uint64_t count(RejectReason reason) const;
  /// Appends the sluice_http_rejected_total family (every reason, zeros included).
  void render(observe::PrometheusText& out) const;

 private:
  static constexpr std::size_t kReasons = static_cast<std::size_t>(RejectReason::kCount);
  std::array<std::atomic<std::uint64_t>, kReasons> counts_{};
  std::array<LogThrottle, kReasons> logs_;
};

}  // namespace sluice::http
