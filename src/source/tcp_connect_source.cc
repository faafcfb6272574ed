#include "source/tcp_connect_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "source/frame_stream_reader.h"

namespace sluice::source {

TcpConnectSource::~TcpConnectSource() {
  stop();
}

std::string TcpConnectSource::name() const {
  return fmt::format("tcp-connect {}", options_.endpoint.to_string());
}

Status TcpConnectSource::start(FrameSink& sink) {
  sink_ = &sink;
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return Status(Code::kIo, fmt::format("eventfd: {}", std::strerror(errno)));
  // The budget has room again: a paused session reads on.
  sink.set_wake([fd = wake_.get()] {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
  });
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void TcpConnectSource::stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

bool TcpConnectSource::sleep_unless_stopped(std::chrono::milliseconds d) {
  MutexLock lock(mu_);
  return !stop_cv_.wait_for(mu_, d, [&] { return stopping_.load(); });
}

void TcpConnectSource::run() {
  auto backoff = options_.initial_backoff;
  bool warned = false;
  while (!stopping_) {
    auto fd = net::connect_tcp(options_.endpoint, options_.connect_timeout);
    if (!fd) {
      sink_->stats().set_state(observe::SourceState::kBackoff);
      ++sink_->stats().errors;
      sink_->stats().set_last_error(fd.status().to_string());
      // One log line per outage, not one per retry.
      if (!warned) {
        spdlog::warn("{}: {}; retrying with backoff up to {} ms", name(), fd.status().message(),
                     options_.max_backoff.count());
      }
      warned = true;
      if (!sleep_unless_stopped(backoff)) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    warned = false;
    sink_->stats().set_state(observe::SourceState::kRunning);
    auto stream = sink_->open_stream(options_.endpoint.to_string());
    if (!stream) {
      if (!sleep_unless_stopped(backoff)) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    spdlog::info("{}: connected, stream {}", name(), *stream);
    if (read_session(*fd, *stream)) backoff = options_.initial_backoff;
    if (!stopping_ && !sleep_unless_stopped(backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool TcpConnectSource::read_session(net::Fd& fd, std::uint64_t stream) {
  using State = FrameStreamReader::State;
  FrameStreamReader reader(*sink_, stream, options_.max_frame_bytes);
  Status why;
  while (!stopping_) {
    const bool paused = reader.state() == State::kPaused;
    std::span<std::uint8_t> space;
    if (!paused) space = reader.read_space();
    // Paused (no memory, or over the rate): wait for the wake or the rate's delay, not the socket.
    const bool waiting = paused || space.empty();
    int timeout = -1;
    if (waiting && reader.retry_after().count() > 0) {
      timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(reader.retry_after()).count());
    }
    std::array<pollfd, 2> fds{pollfd{fd.get(), static_cast<short>(waiting ? 0 : POLLIN), 0},
                              pollfd{wake_.get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      why = Status(Code::kIo, fmt::format("poll: {}", std::strerror(errno)));
      break;
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t count = 0;
      [[maybe_unused]] auto r = ::read(wake_.get(), &count, sizeof count);
    }
    if (stopping_) break;
    if (waiting) {
      reader.resume();
    } else if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd.get(), space.data(), space.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        why = Status(Code::kIo, fmt::format("recv: {}", std::strerror(errno)));
        break;
      }
      if (n == 0) {
        reader.on_peer_closed();
      } else {
        reader.on_received(static_cast<std::size_t>(n));
      }
    }
    if (reader.state() == State::kEnded) break;
    if (reader.state() == State::kFailed) {
      why = reader.status();
      break;
    }
  }
  if (stopping_ && why.is_ok() && reader.state() != State::kEnded) {
    why = Status(Code::kClosed, "the server is shutting down");
  }
  if (why.is_ok()) {
    spdlog::info("{}: stream {} ended after {} frames; reconnecting", name(), stream, reader.frames());
  } else if (why.code() != Code::kClosed) {
    spdlog::warn("{}: stream {} closed after {} frames: {}", name(), stream, reader.frames(),
                 why.to_string());
  }
  sink_->close_stream(stream, why);
  return reader.frames() > 0;
}

}  // namespace sluice::source
