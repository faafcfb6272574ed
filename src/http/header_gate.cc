#include "http/header_gate.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include <fmt/format.h>

namespace sluice::http {
namespace {

void close_socket(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

// Best effort: the client may already be gone, and a full send buffer is not waited for.
void send_once(int fd, std::string_view bytes) {
  [[maybe_unused]] const auto sent = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::string plain_response(std::string_view status, std::string_view body) {
  return fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
      "Content-Length: {}\r\n\r\n{}",
      status, body.size(), body);
}

bool headers_complete(const std::string& received, std::size_t searched_from) {
  const std::size_t from = searched_from > 3 ? searched_from - 3 : 0;
  return received.find("\r\n\r\n", from) != std::string::npos ||
         received.find("\n\n", from) != std::string::npos;
}

}  // namespace

HeaderGate::HeaderGate(HeaderGateLimits limits, Ready ready, HttpRejections& rejections)
    : limits_(limits), ready_(std::move(ready)), rejections_(rejections) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

HeaderGate::~HeaderGate() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  MutexLock lock(mu_);
  for (const int fd : incoming_) close_socket(fd);
  ::close(wake_fd_);
}

void HeaderGate::add(int fd) {
  {
    MutexLock lock(mu_);
    incoming_.push_back(fd);
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void HeaderGate::take_new(std::vector<Pending>& pending) {
  std::vector<int> fresh;
  {
    MutexLock lock(mu_);
    fresh.swap(incoming_);
  }
  const auto deadline = std::chrono::steady_clock::now() + limits_.header_deadline;
  for (const int fd : fresh) {
    if (pending.size() >= limits_.max_pending) {
      // The oldest is the likeliest to be stalled on purpose; a new client usually sends at once.
      auto oldest = std::min_element(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
        return a.deadline < b.deadline;
      });
      refuse(*oldest, RejectReason::kTooManyPending, {},
             fmt::format("{} connections were still sending their headers; the oldest was closed",
                         pending.size()));
      pending.erase(oldest);
    }
    pending.push_back(Pending{fd, deadline, {}});
  }
}

void HeaderGate::refuse(Pending& p, RejectReason reason, std::string_view response, std::string_view detail) {
  rejections_.record(reason, detail);
  if (!response.empty()) send_once(p.fd, response);
  close_socket(p.fd);
  p.fd = -1;
}

bool HeaderGate::read_some(Pending& p) {
  std::array<char, 4096> buf{};
  while (true) {
    const std::size_t room = limits_.max_header_bytes + 1 - p.received.size();
    const auto n = ::recv(p.fd, buf.data(), std::min(room, buf.size()), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      close_socket(p.fd);  // the client left before finishing its request: nothing to answer
      p.fd = -1;
      return true;
    }
    if (n < 0) return false;
    const std::size_t before = p.received.size();
    p.received.append(buf.data(), static_cast<std::size_t>(n));
    if (headers_complete(p.received, before)) {
      ready_(p.fd, std::move(p.received));
      p.fd = -1;
      return true;
    }
    if (p.received.size() > limits_.max_header_bytes) {
      const auto detail = fmt::format("request headers over {} bytes (rule: --http: header size limit)",
                                      limits_.max_header_bytes);
      refuse(p, RejectReason::kHeadersTooLarge,
             plain_response("431 Request Header Fields Too Large", detail + "\n"), detail);
      return true;
    }
  }
}

void HeaderGate::run() {
  std::vector<Pending> pending;
  std::vector<pollfd> fds;
  while (true) {
    {
      MutexLock lock(mu_);
      if (stopping_) break;
    }
    take_new(pending);
    const auto now = std::chrono::steady_clock::now();
    for (auto& p : pending) {
      if (now >= p.deadline) {
        const auto detail = fmt::format(
            "request headers not complete within {} ms (rule: --http: headers within the deadline)",
            limits_.header_deadline.count());
        refuse(p, RejectReason::kHeaderTimeout, plain_response("408 Request Timeout", detail + "\n"), detail);
      }
    }
    std::erase_if(pending, [](const Pending& p) { return p.fd < 0; });
    auto next = now + std::chrono::seconds(1);
    for (const auto& p : pending) next = std::min(next, p.deadline);
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (const auto& p : pending) fds.push_back(pollfd{p.fd, POLLIN, 0});
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
    if (n <= 0) continue;
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(wake_fd_, &count, sizeof count);
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) read_some(pending[i - 1]);
    }
    std::erase_if(pending, [](const Pending& p) { return p.fd < 0; });
  }
  for (auto& p : pending) close_socket(p.fd);
}

}  // namespace sluice::http
