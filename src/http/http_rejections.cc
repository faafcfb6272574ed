#include "http/http_rejections.h"

#include <spdlog/spdlog.h>

namespace sluice::http {

std::string_view reason_label(RejectReason reason) {
  switch (reason) {
    case RejectReason::kHost:
      return "host";
    case RejectReason::kMethod:
      return "method";
    case RejectReason::kBody:
      return "body";
    case RejectReason::kHeadersTooLarge:
      return "headers_too_large";
    case RejectReason::kHeaderTimeout:
      return "header_timeout";
    case RejectReason::kTooManyPending:
      return "too_many_pending";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}

void HttpRejections::record(RejectReason reason, std::string_view detail) {
  const auto i = static_cast<std::size_t>(reason);
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  const auto skipped = logs_[i].admit();
  if (!skipped) return;
  if (*skipped == 0) {
    spdlog::warn("http: refused a request: {}", detail);
  } else {
    spdlog::warn("http: refused a request: {} ({} more refused for the same reason in the last second)",
                 detail, *skipped);
  }
}

std::uint64_t HttpRejections::count(RejectReason reason) const {
  return counts_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
}

void HttpRejections::render(observe::PrometheusText& out) const {
  out.family("sluice_http_rejected_total", "counter",
             "Requests or connections the --http endpoint refused, by reason (host, method, body, "
             "headers_too_large, header_timeout, too_many_pending).");
  for (std::size_t i = 0; i < kReasons; ++i) {
    out.sample("sluice_http_rejected_total",
               {{"reason", std::string(reason_label(static_cast<RejectReason>(i)))}},
               static_cast<double>(counts_[i].load(std::memory_order_relaxed)));
  }
}

}  // namespace sluice::http
