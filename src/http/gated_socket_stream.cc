#include "http/gated_socket_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sluice::http {
namespace {

using GetName = int (*)(int, sockaddr*, socklen_t*);

void address_of(int fd, GetName get_name, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (get_name(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text.data(), text.size());
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text.data(), text.size());
    port = ntohs(in6->sin6_port);
  }
  ip = text.data();
}

}  // namespace

GatedSocketStream::GatedSocketStream(int fd, std::string received, std::chrono::milliseconds timeout,
                                     std::chrono::steady_clock::time_point deadline)
    : fd_(fd), received_(std::move(received)), timeout_(timeout), deadline_(deadline) {}

bool GatedSocketStream::wait_for(short events) const {
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
  pollfd p{fd_, events, 0};
  int n = 0;
  do {
    n = ::poll(&p, 1, static_cast<int>(std::min(left, timeout_).count()) + 1);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

bool GatedSocketStream::is_readable() const {
  return consumed_ < received_.size() || wait_for(POLLIN);
}

bool GatedSocketStream::is_writable() const {
  return wait_for(POLLOUT);
}

ssize_t GatedSocketStream::read(char* ptr, size_t size) {
  if (consumed_ < received_.size()) {
    const std::size_t n = std::min(size, received_.size() - consumed_);
    std::memcpy(ptr, received_.data() + consumed_, n);
    consumed_ += n;
    return static_cast<ssize_t>(n);
  }
  if (!wait_for(POLLIN)) return -1;
  return ::recv(fd_, ptr, size, MSG_DONTWAIT);
}

ssize_t GatedSocketStream::write(const char* ptr, size_t size) {
  if (!wait_for(POLLOUT)) return -1;
  return ::send(fd_, ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void GatedSocketStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  address_of(fd_, ::getpeername, ip, port);
}

void GatedSocketStream::get_local_ip_and_port(std::string& ip, int& port) const {
  address_of(fd_, ::getsockname, ip, port);
}

}  // namespace sluice::http
