// Thin RAII wrappers over POSIX sockets: an owned file descriptor, address parsing, and the
// listen / connect / write-all helpers that every TCP path shares.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::net {

/// An owned file descriptor, closed on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// "HOST:PORT" or "[v6]:PORT", split into parts. Port 0 means "any free port" when listening.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};
Result<Endpoint> parse_endpoint(std::string_view text);

/// A listening TCP socket bound to `endpoint` (SO_REUSEADDR, non-blocking when asked).
Result<Fd> listen_tcp(const Endpoint& endpoint, bool non_blocking, int backlog = 512);
/// The locally bound endpoint of a socket (to learn the port chosen for port 0).
Result<Endpoint> local_endpoint(int fd);
/// A blocking TCP connection to `endpoint`, or an error after `timeout`.
Result<Fd> connect_tcp(const Endpoint& endpoint, std::chrono::milliseconds timeout);

/// Writes every byte, retrying on EINTR; fails on error or when the peer closes.
Status write_all(int fd, std::span<const std::uint8_t> bytes);
/// Reads exactly bytes.size() bytes, or fails (kClosed on a clean EOF before the first byte).
Status read_exact(int fd, std::span<std::uint8_t> bytes);

Status set_non_blocking(int fd);
/// Human-readable peer address of a connected socket, for logs.
std::string peer_name(int fd);

}  // namespace sluice::net
