#include "source/tcp_listen_source.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::source {
namespace {
constexpr std::size_t kReadChunk = 256 * 1024;
}

TcpListenSource::TcpListenSource(TcpListenOptions options) : options_(std::move(options)) {}

TcpListenSource::~TcpListenSource() {
  stop();
}

std::string TcpListenSource::name() const {
  return fmt::format("tcp-listen {}", (bound_.port ? bound_ : options_.endpoint).to_string());
}

Status TcpListenSource::start(FrameSink& sink) {
  sink_ = &sink;
  auto listener = net::listen_tcp(options_.endpoint, /*non_blocking=*/true);
  if (!listener) return listener.status();
  listener_ = std::move(*listener);
  auto bound = net::local_endpoint(listener_.get());
  if (!bound) return bound.status();
  bound_ = *bound;
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_.valid() || !wake_.valid())
    return Status(Code::kIo, fmt::format("epoll/eventfd: {}", std::strerror(errno)));
  for (int fd : {listener_.get(), wake_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  spdlog::info("{}: listening", name());
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void TcpListenSource::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void TcpListenSource::run() {
  std::array<epoll_event, 64> events{};
  auto next_idle_check = Clock::now() + std::chrono::seconds(1);
  while (!stopping_) {
    const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 1000);
    if (Clock::now() >= next_idle_check) {
      close_idle_connections();
      next_idle_check =
          Clock::now() + std::min<Clock::duration>(options_.idle_timeout / 4, std::chrono::seconds(1));
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{}: epoll_wait failed: {}; the source stops", name(), std::strerror(errno));
      break;
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == wake_.get()) continue;
      if (fd == listener_.get()) {
        accept_all();
      } else {
        read_connection(fd);
      }
    }
  }
  // Connections still open at shutdown end here; what they already delivered stays accepted.
  std::vector<int> open;
  for (const auto& [fd, conn] : connections_) open.push_back(fd);
  for (int fd : open) close_connection(fd, Status(Code::kClosed, "the server is shutting down"));
}

void TcpListenSource::accept_all() {
  while (true) {
    net::Fd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        spdlog::warn("{}: accept failed: {}", name(), std::strerror(errno));
      }
      return;
    }
    std::string peer = net::peer_name(fd.get());
    if (connections_.size() >= options_.max_connections) {
      spdlog::warn("{}: refused connection from {}: {} connections already open (rule: --max-connections)",
                   name(), peer, connections_.size());
      continue;  // fd closes here
    }
    const std::uint64_t stream = sink_->open_stream(peer);
    const int raw = fd.get();
    auto conn = std::make_unique<Connection>(
        Connection{std::move(fd), peer, FrameStreamReader(*sink_, stream, options_.max_frame_bytes, raw)});
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = raw;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, raw, &ev);
    spdlog::debug("{}: stream {} opened by {}", name(), stream, peer);
    connections_.emplace(raw, std::move(conn));
  }
}

void TcpListenSource::read_connection(int fd) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto& conn = *it->second;
  thread_local std::vector<std::uint8_t> buffer(kReadChunk);
  // Bounded work per wake-up keeps one fast producer from starving the others.
  for (int round = 0; round < 4 && !stopping_; ++round) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n == 0) {
      const auto state = conn.reader.on_peer_closed();
      close_connection(fd, state == FrameStreamReader::State::kEnded ? Status::ok() : conn.reader.status());
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close_connection(fd, Status(Code::kIo, fmt::format("recv: {}", std::strerror(errno))));
      return;
    }
    const auto state = conn.reader.on_bytes({buffer.data(), static_cast<std::size_t>(n)});
    if (state == FrameStreamReader::State::kEnded) {
      close_connection(fd, Status::ok());
      return;
    }
    if (state == FrameStreamReader::State::kFailed) {
      close_connection(fd, conn.reader.status());
      return;
    }
  }
}

void TcpListenSource::close_idle_connections() {
  const auto now = Clock::now();
  std::vector<int> idle;
  for (auto& [fd, conn] : connections_) {
    if (conn->reader.frames() != conn->frames_at_check) {
      conn->frames_at_check = conn->reader.frames();
      conn->last_progress = now;
    } else if (now - conn->last_progress >= options_.idle_timeout) {
      idle.push_back(fd);
    }
  }
  for (int fd : idle) {
    close_connection(fd,
                     Status(Code::kLimit, fmt::format("no complete frame for {} ms (rule: --idle-timeout)",
                                                      options_.idle_timeout.count())));
  }
}

void TcpListenSource::close_connection(int fd, const Status& why) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto& conn = *it->second;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (why.is_ok()) {
    spdlog::debug("{}: stream {} from {} ended after {} frames", name(), conn.reader.stream(), conn.peer,
                  conn.reader.frames());
  } else if (why.code() != Code::kClosed) {
    spdlog::warn("{}: closed stream {} from {} after {} frames: {}", name(), conn.reader.stream(), conn.peer,
                 conn.reader.frames(), why.to_string());
  }
  sink_->close_stream(conn.reader.stream(), why);
  connections_.erase(it);
}

}  // namespace sluice::source
