#include "net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace sluice::net {
namespace {

Status errno_status(std::string_view what) {
  return Status(Code::kIo, fmt::format("{}: {}", what, std::strerror(errno)));
}

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

Result<AddrInfoPtr> resolve(const Endpoint& ep, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(ep.port);
  const int rc = getaddrinfo(ep.host.empty() ? nullptr : ep.host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0)
    return Status(Code::kInvalidArgument, fmt::format("cannot resolve '{}': {}", ep.host, gai_strerror(rc)));
  return AddrInfoPtr(result);
}

std::string sockaddr_text(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  std::uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return fmt::format("{}:{}", host, port);
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    return fmt::format("[{}]:{}", host, port);
  }
  return "?";
}

}  // namespace

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string Endpoint::to_string() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status(Code::kInvalidArgument, fmt::format("'{}' is not HOST:PORT or [IPv6]:PORT", text));
    }
    ep.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Status(Code::kInvalidArgument,
                    fmt::format("'{}' is not HOST:PORT (example: 127.0.0.1:9999)", text));
    }
    ep.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535 || port_text.empty()) {
    return Status(Code::kInvalidArgument, fmt::format("'{}' has no valid port (0-65535)", text));
  }
  ep.port = static_cast<std::uint16_t>(port);
  return ep;
}

Status set_non_blocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno_status("fcntl(O_NONBLOCK)");
  return Status::ok();
}

Result<Fd> listen_tcp(const Endpoint& endpoint, bool non_blocking, int backlog) {
  auto addrs = resolve(endpoint, true);
  if (!addrs) return addrs.status();
  Status last(Code::kIo, "no address to bind");
  for (addrinfo* ai = addrs->get(); ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd.valid()) {
      last = errno_status("socket");
      continue;
    }
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last = errno_status(fmt::format("bind {}", endpoint.to_string()));
      continue;
    }
    if (::listen(fd.get(), backlog) != 0) {
      last = errno_status("listen");
      continue;
    }
    if (non_blocking) {
      if (auto st = set_non_blocking(fd.get()); !st) return st;
    }
    return fd;
  }
  return last;
}

Result<Endpoint> local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errno_status("getsockname");
  const std::string text = sockaddr_text(ss);
  return parse_endpoint(text);
}

Result<Fd> connect_tcp(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  auto addrs = resolve(endpoint, false);
  if (!addrs) return addrs.status();
  Status last(Code::kIo, "no address to connect to");
  for (addrinfo* ai = addrs->get(); ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd.valid()) {
      last = errno_status("socket");
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = errno_status(fmt::format("connect {}", endpoint.to_string()));
        continue;
      }
      pollfd pfd{fd.get(), POLLOUT, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (ready <= 0) {
        last = Status(Code::kIo, fmt::format("connect {}: timed out", endpoint.to_string()));
        continue;
      }
      getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = Status(Code::kIo, fmt::format("connect {}: {}", endpoint.to_string(), std::strerror(err)));
        continue;
      }
    }
    const int flags = fcntl(fd.get(), F_GETFL, 0);
    fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  return last;
}

Status write_all(int fd, std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("send");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return Status::ok();
}

Status read_exact(int fd, std::span<std::uint8_t> bytes) {
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::recv(fd, bytes.data() + got, bytes.size() - got, 0);
    if (n == 0) return Status(got == 0 ? Code::kClosed : Code::kIo, "peer closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("recv");
    }
    got += static_cast<std::size_t>(n);
  }
  return Status::ok();
}

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddr_text(ss);
}

}  // namespace sluice::net
