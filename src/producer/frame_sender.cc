#include "producer/frame_sender.h"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "net/tls_transport.h"
#include "wire/frame_codec.h"

namespace sluice::producer {
namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kFlushBytes = 256 * 1024;

// Streams frames lane, lane+lanes, lane+2*lanes, ... of the set repeated `repeat` times (the
// repeats counted as one long sequence, so that lanes stay within one frame of each other even
// when the set's size is not a multiple of the lane count), then the end-of-stream record.
// `rate` is this connection's share, in frames per second.
Status stream_lane(net::Transport& io, int fd, const FrameSet& set, std::size_t lane, std::size_t lanes,
                   int repeat, double rate, SendProgress& progress) {
  std::vector<std::uint8_t> buffer;
  buffer.reserve(kFlushBytes * 2);
  auto flush = [&]() -> Status {
    if (buffer.empty()) return Status::ok();
    auto st = io.send_all(buffer);
    buffer.clear();
    return st;
  };
  const auto start = SteadyClock::now();
  std::uint64_t sent = 0;
  const std::size_t total = set.frames.size() * static_cast<std::size_t>(std::max(0, repeat));
  for (std::size_t g = lane; g < total; g += lanes) {
    const std::size_t i = g % set.frames.size();
    if (progress.cancel) return Status(Code::kClosed, "cancelled");
    if (rate > 0) {
      const auto due = start + std::chrono::duration_cast<SteadyClock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(sent) / rate));
      if (due > SteadyClock::now()) {
        if (auto st = flush(); !st) return st;
        std::this_thread::sleep_until(due);
      }
    }
    const auto& frame = set.frames[i];
    if (auto st = wire::append_record(frame.name, frame.payload, buffer); !st) return st;
    ++sent;
    progress.frames.fetch_add(1, std::memory_order_relaxed);
    progress.bytes.fetch_add(frame.payload.size(), std::memory_order_relaxed);
    if (buffer.size() >= kFlushBytes || rate > 0) {
      if (auto st = flush(); !st) return st;
    }
  }
  const auto eos = wire::end_of_stream_record();
  buffer.insert(buffer.end(), eos.begin(), eos.end());
  if (auto st = flush(); !st) return st;
  // Wait for the receiver to close its side, so every byte is read before we report success.
  io.close_notify();
  ::shutdown(fd, SHUT_WR);
  pollfd pfd{fd, POLLIN, 0};
  std::array<std::uint8_t, 256> drain{};
  while (::poll(&pfd, 1, 30000) > 0) {
    const auto got = io.recv(drain);
    // Under TLS 1.3 a server that refuses our certificate says so only now, with an alert.
    if (got.io == net::Transport::Io::kError && io.is_tls()) return got.error;
    if (got.io != net::Transport::Io::kOk && got.io != net::Transport::Io::kWantRead) break;
  }
  return Status::ok();
}

// Runs one thread per lane, joins them, and reports the first error.
template <typename LaneFn>
Result<SendSummary> run_lanes(int lanes, SendProgress& progress, LaneFn lane_fn) {
  const auto start = SteadyClock::now();
  const std::uint64_t frames0 = progress.frames, bytes0 = progress.bytes;
  std::mutex mu;
  Status first_error;
  {
    std::vector<std::jthread> threads;
    for (int lane = 0; lane < lanes; ++lane) {
      threads.emplace_back([&, lane] {
        Status st = lane_fn(static_cast<std::size_t>(lane));
        if (!st) {
          progress.cancel = true;
          std::lock_guard lock(mu);
          if (first_error.is_ok()) first_error = st;
        }
      });
    }
  }
  if (!first_error) return first_error;
  SendSummary summary;
  summary.frames = progress.frames - frames0;
  summary.bytes = progress.bytes - bytes0;
  summary.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return summary;
}

}  // namespace

Result<SendSummary> send_frames(const FrameSet& set, const net::Endpoint& to, const SendOptions& options,
                                SendProgress& progress, const net::TlsClient* tls) {
  const auto lanes = static_cast<std::size_t>(std::max(1, options.connections));
  std::vector<net::ClientConnection> conns;
  for (std::size_t i = 0; i < lanes; ++i) {
    auto conn = net::connect_client(to, tls, std::chrono::milliseconds(5000));
    if (!conn) return conn.status();
    conns.push_back(std::move(*conn));
  }
  const double lane_rate = options.rate / static_cast<double>(lanes);
  return run_lanes(static_cast<int>(lanes), progress, [&](std::size_t lane) {
    auto& conn = conns[lane];
    return stream_lane(conn.io, conn.fd.get(), set, lane, lanes, options.repeat, lane_rate, progress);
  });
}

Result<SendSummary> serve_frames(const FrameSet& set, const net::Endpoint& at, const SendOptions& options,
                                 SendProgress& progress,
                                 const std::function<void(const net::Endpoint&)>& on_listening) {
  auto listener = net::listen_tcp(at, /*non_blocking=*/false);
  if (!listener) return listener.status();
  auto bound = net::local_endpoint(listener->get());
  if (!bound) return bound.status();
  if (on_listening) on_listening(*bound);
  const int clients = std::max(1, options.connections);
  const double client_rate = options.rate;
  return run_lanes(clients, progress, [&](std::size_t) -> Status {
    int fd = -1;
    {
      // Accept one client per lane; poll so that a cancel is noticed.
      static std::mutex accept_mu;
      std::lock_guard lock(accept_mu);
      while (!progress.cancel) {
        pollfd pfd{listener->get(), POLLIN, 0};
        if (::poll(&pfd, 1, 200) > 0) {
          fd = ::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC);
          if (fd >= 0) break;
        }
      }
    }
    if (fd < 0) return Status(Code::kClosed, "cancelled before a client connected");
    net::Fd owned(fd);
    net::Transport plain(owned.get());
    return stream_lane(plain, owned.get(), set, 0, 1, options.repeat, client_rate, progress);
  });
}

}  // namespace sluice::producer
