// HostPolicy: which Host headers the --http endpoint answers, against DNS rebinding (a page on a
// foreign site whose name the attacker re-points at 127.0.0.1 would send its own name as Host).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::http {

class HostPolicy {
 public:
  /// Allows the bound address, localhost, 127.0.0.1 and [::1], and `extra` (--http-allowed-hosts),
  /// with any port. Names compare without case.
  HostPolicy(std::string_view bound_host, const std::vector<std::string>& extra);

  /// True when a request with this Host header is answered. A request without one (HTTP/1.0
  /// tools) is: browsers, the rebinding vector, always send it.
  bool allows(std::string_view host_header) const;

  /// The Host header without its port ("[::1]:8080" -> "::1", "Example.com:80" -> "example.com").
  static std::string host_name(std::string_view host_header);

 private:
  std::vector<std::string> allowed_;
};

}  // namespace sluice::http
