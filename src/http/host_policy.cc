#include "http/host_policy.h"

#include <algorithm>
#include <cctype>

namespace sluice::http {

std::string HostPolicy::host_name(std::string_view host) {
  while (!host.empty() && std::isspace(static_cast<unsigned char>(host.back()))) host.remove_suffix(1);
  while (!host.empty() && std::isspace(static_cast<unsigned char>(host.front()))) host.remove_prefix(1);
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    host = close == std::string_view::npos ? host.substr(1) : host.substr(1, close - 1);
  } else if (const auto colon = host.find(':');
             colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "localhost." is localhost
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

HostPolicy::HostPolicy(std::string_view bound_host, const std::vector<std::string>& extra) {
  allowed_ = {"localhost", "127.0.0.1", "::1", host_name(bound_host)};
  for (const auto& h : extra) {
    if (!h.empty()) allowed_.push_back(host_name(h));
  }
}

bool HostPolicy::allows(std::string_view host_header) const {
  const std::string name = host_name(host_header);
  if (host_header.empty()) return true;
  return !name.empty() && std::find(allowed_.begin(), allowed_.end(), name) != allowed_.end();
}

}  // namespace sluice::http
