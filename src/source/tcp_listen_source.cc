#include "source/tcp_listen_source.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "wire/protocol_v2.h"

namespace sluice::source {
namespace {
// Bounded work per wake-up keeps one fast producer from starving the others.
constexpr int kReadsPerWake = 4;

const char* refusal_rule(net::TlsRefusal reason) {
  switch (reason) {
    case net::TlsRefusal::kCertificate:
      return "--tls-ca: a client certificate signed by it";
    case net::TlsRefusal::kVersion:
      return "--tls-cert: TLS 1.2 or later";
    case net::TlsRefusal::kTimeout:
      return "--idle-timeout, at most 10 s for the TLS handshake";
    case net::TlsRefusal::kProtocol:
      break;
  }
  return "--tls-cert: every connection speaks TLS";
}
}  // namespace

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
  if (options_.tls) sink.stats().tls = true;
  sink.set_wake([this] {
    room_ = true;
    wake();
  });
  spdlog::info("{}: listening{}", name(),
               !options_.tls                                 ? ""
               : options_.tls->requires_client_certificate() ? " (TLS, client certificates required)"
                                                             : " (TLS)");
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void TcpListenSource::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void TcpListenSource::wake() {
  if (!wake_.valid()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void TcpListenSource::on_frames_done(std::span<const Frame> frames) {
  bool any = false;
  {
    MutexLock lock(done_mu_);
    for (const auto& f : frames) {
      if (f.stream < wire::kMinProducerStreamId) continue;  // seed streams get no acks
      auto& next = done_[f.stream];
      next = std::max(next, f.seq + 1);
      any = true;
    }
  }
  if (any) wake();
}

void TcpListenSource::run() {
  std::array<epoll_event, 64> events{};
  auto next_idle_check = SteadyClock::now() + std::chrono::seconds(1);
  while (!stopping_) {
    // Wake for the idle check and for the earliest connection paused by its rate limit.
    auto until = next_idle_check;
    if (options_.tls) options_.tls->maybe_reload();
    // TLS input already decrypted is readable now: epoll would not say so.
    const auto buffered = buffered_readable();
    if (!buffered.empty()) until = SteadyClock::now();
    for (const auto& [fd, conn] : connections_) {
      if (conn->reader.state() == FrameStreamReader::State::kPaused &&
          conn->retry_at != SteadyClock::time_point{}) {
        until = std::min(until, conn->retry_at);
      }
    }
    const auto wait_ms = std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count() + 1);
    const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                             static_cast<int>(std::min<long long>(wait_ms, 1000)));
    if (n < 0 && errno != EINTR) {
      spdlog::error("{}: epoll_wait failed: {}; the source stops", name(), std::strerror(errno));
      break;
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      const auto& ev = events[static_cast<std::size_t>(i)];
      const int fd = ev.data.fd;
      if (fd == wake_.get()) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto r = ::read(wake_.get(), &count, sizeof count);
        continue;
      }
      if (fd == listener_.get()) {
        accept_all();
        continue;
      }
      if (handshakes_.count(fd) != 0) {
        continue_handshake(fd);
        continue;
      }
      if (ev.events & EPOLLOUT) on_writable(fd);
      if (ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(fd);
    }
    if (stopping_) break;
    for (int fd : buffered) {
      // Those the events above did not already read.
      const auto it = connections_.find(fd);
      if (it != connections_.end() && it->second->io.has_buffered_input()) on_readable(fd);
    }
    deliver_acks();
    resume_paused(room_.exchange(false));
    if (SteadyClock::now() >= next_idle_check) {
      close_idle_connections();
      close_late_handshakes();
      next_idle_check = SteadyClock::now() +
                        std::min<SteadyClock::duration>(options_.idle_timeout / 4, std::chrono::seconds(1));
    }
  }
  // Connections still open at shutdown end here; what they already delivered stays accepted.
  std::vector<int> open;
  for (const auto& [fd, conn] : connections_) open.push_back(fd);
  for (int fd : open) close_connection(fd, Status(Code::kClosed, "the server is shutting down"));
  handshakes_.clear();
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
    if (connections_.size() + handshakes_.size() >= options_.max_connections) {
      spdlog::warn("{}: refused connection from {}: {} connections already open (rule: --max-connections)",
                   name(), peer, connections_.size() + handshakes_.size());
      continue;  // fd closes here
    }
    const int raw = fd.get();
    if (!options_.tls) {
      open_connection(std::move(fd), std::move(peer), net::Transport(raw));
      continue;
    }
    auto session = options_.tls->new_session(raw);
    if (!session) {
      spdlog::error("{}: refused connection from {}: {}", name(), peer, session.status().to_string());
      continue;
    }
    const auto limit = std::min(options_.tls_handshake_timeout, options_.idle_timeout);
    handshakes_.emplace(raw, Handshake{std::move(fd), std::move(peer),
                                       net::Transport(raw, std::move(*session)), SteadyClock::now() + limit});
    continue_handshake(raw);
  }
}

void TcpListenSource::open_connection(net::Fd fd, std::string peer, net::Transport io) {
  auto stream = sink_->open_stream(peer);
  if (!stream) {
    spdlog::error("{}: refused connection from {}: {}", name(), peer, stream.status().to_string());
    return;
  }
  const int raw = fd.get();
  auto conn = std::make_unique<Connection>(std::move(fd), std::move(peer), std::move(io), *sink_, *stream,
                                           options_.max_frame_bytes);
  auto& ref = *conn;
  connections_.emplace(raw, std::move(conn));
  if (ref.io.is_tls()) {
    spdlog::debug("{}: stream {} opened by {} over {} ({})", name(), *stream, ref.peer, ref.io.protocol(),
                  ref.tls_subject.empty() ? "no client certificate" : ref.tls_subject);
  } else {
    spdlog::debug("{}: stream {} opened by {}", name(), *stream, ref.peer);
  }
  update_interest(ref);
  // Frames may have come with the end of the handshake, already taken off the socket.
  if (ref.io.has_buffered_input()) on_readable(raw);
}

void TcpListenSource::continue_handshake(int fd) {
  const auto it = handshakes_.find(fd);
  if (it == handshakes_.end()) return;
  auto& h = it->second;
  using Io = net::Transport::Io;
  const auto step = h.io.handshake();
  if (step.io == Io::kOk) {
    if (h.registered) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    auto done = std::move(h);
    handshakes_.erase(it);
    open_connection(std::move(done.fd), std::move(done.peer), std::move(done.io));
    return;
  }
  if (step.io == Io::kWantRead || step.io == Io::kWantWrite) {
    epoll_event ev{};
    ev.events = step.io == Io::kWantRead ? EPOLLIN | EPOLLRDHUP : EPOLLOUT;
    ev.data.fd = fd;
    epoll_ctl(epoll_.get(), h.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    h.registered = true;
    return;
  }
  refuse_handshake(fd, step.refusal,
                   step.error.is_ok() ? std::string("the peer closed the connection") : step.error.message());
}

void TcpListenSource::refuse_handshake(int fd, net::TlsRefusal reason, const std::string& why) {
  const auto it = handshakes_.find(fd);
  if (it == handshakes_.end()) return;
  if (it->second.registered) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  const auto r = static_cast<std::size_t>(reason);
  sink_->stats().tls_refused[r].fetch_add(1, std::memory_order_relaxed);
  // A stranger can knock as often as it likes: one line a second per reason, and the metric.
  const auto now = SteadyClock::now();
  if (now - tls_logged_at_[r] >= std::chrono::seconds(1)) {
    spdlog::warn("{}: refused TLS connection from {} ({}): {} (rule: {}){}", name(), it->second.peer,
                 net::tls_refusal_name(reason), why, refusal_rule(reason),
                 tls_unlogged_[r] > 0 ? fmt::format("; {} more refused since the last line", tls_unlogged_[r])
                                      : std::string());
    tls_logged_at_[r] = now;
    tls_unlogged_[r] = 0;
  } else {
    ++tls_unlogged_[r];
  }
  handshakes_.erase(it);  // closes the socket: no stream was opened, no frame read
}

void TcpListenSource::close_late_handshakes() {
  const auto now = SteadyClock::now();
  std::vector<int> late;
  for (const auto& [fd, h] : handshakes_) {
    if (now >= h.deadline) late.push_back(fd);
  }
  for (int fd : late) {
    refuse_handshake(fd, net::TlsRefusal::kTimeout,
                     fmt::format("the TLS handshake did not complete within {} ms",
                                 std::min(options_.tls_handshake_timeout, options_.idle_timeout).count()));
  }
}

std::vector<int> TcpListenSource::buffered_readable() const {
  std::vector<int> fds;
  if (!options_.tls) return fds;
  for (const auto& [fd, conn] : connections_) {
    if (conn->reader.state() == FrameStreamReader::State::kOpen && !conn->draining &&
        conn->io.has_buffered_input()) {
      fds.push_back(fd);
    }
  }
  return fds;
}

void TcpListenSource::update_interest(Connection& conn) {
  using State = FrameStreamReader::State;
  const bool reading = conn.reader.state() == State::kOpen && !conn.draining;
  const bool writing = conn.acks.blocked() || conn.read_wants_write;
  if (!reading && !writing) {
    // A paused connection leaves the set altogether: a hang-up would otherwise wake the loop
    // again and again. resume_paused() puts it back.
    if (conn.registered) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.fd.get(), nullptr);
    conn.registered = false;
    return;
  }
  epoll_event ev{};
  ev.events = (reading ? EPOLLIN | EPOLLRDHUP : 0u) | (writing ? EPOLLOUT : 0u);
  ev.data.fd = conn.fd.get();
  epoll_ctl(epoll_.get(), conn.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, conn.fd.get(), &ev);
  conn.registered = true;
}

void TcpListenSource::on_readable(int fd) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto& conn = *it->second;
  using State = FrameStreamReader::State;
  for (int round = 0; round < kReadsPerWake && conn.reader.state() == State::kOpen && !conn.draining;
       ++round) {
    const auto space = conn.reader.read_space();
    if (space.empty()) break;  // paused: no memory for the receive buffer
    using Io = net::Transport::Io;
    const auto got = conn.io.recv(space);
    if (got.io == Io::kEof) {
      conn.reader.on_peer_closed();
      break;
    }
    if (got.io == Io::kWantRead) break;
    if (got.io == Io::kWantWrite) {
      conn.read_wants_write = true;
      break;
    }
    if (got.io == Io::kError) {
      close_connection(fd, got.error);
      return;
    }
    conn.reader.on_received(got.bytes);
  }
  after_parse(conn);
}

void TcpListenSource::after_parse(Connection& conn) {
  using State = FrameStreamReader::State;
  const int fd = conn.fd.get();
  if (conn.reader.acks_enabled() && !conn.hello_acked) {
    // Tells the producer where this server stands before any frame is done.
    conn.hello_acked = true;
    v2_streams_[conn.reader.stream()] = fd;
    send_ack(conn, conn.reader.first_seq());
    if (connections_.count(fd) == 0) return;
  }
  switch (conn.reader.state()) {
    case State::kFailed:
      close_connection(fd, conn.reader.status());
      return;
    case State::kEnded:
      if (!conn.reader.acks_enabled()) {
        close_connection(fd, Status::ok());
        return;
      }
      // Stays open until every frame is done and the last ack has gone out.
      conn.draining = true;
      if (conn.acks.wanted() >= conn.reader.next_seq() && conn.acks.caught_up()) {
        close_connection(fd, Status::ok());
        return;
      }
      break;
    case State::kPaused:
      if (conn.reader.retry_after().count() > 0) {
        conn.retry_at = SteadyClock::now() + conn.reader.retry_after();
      } else {
        conn.retry_at = {};
        paused_for_memory_.push_back(fd);
      }
      break;
    case State::kOpen:
      break;
  }
  update_interest(conn);
}

void TcpListenSource::on_writable(int fd) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto& conn = *it->second;
  if (conn.read_wants_write) {
    conn.read_wants_write = false;
    on_readable(fd);
    if (connections_.count(fd) == 0) return;
  }
  after_ack(conn, conn.acks.flush(conn.io));
}

void TcpListenSource::send_ack(Connection& conn, std::uint64_t next_seq) {
  after_ack(conn, conn.acks.send(conn.io, next_seq));
}

void TcpListenSource::after_ack(Connection& conn, const Status& sent) {
  const int fd = conn.fd.get();
  if (!sent) {
    close_connection(fd, sent);
    return;
  }
  // A drained stream closes once its last ack is out.
  if (conn.draining && conn.acks.wanted() >= conn.reader.next_seq() && conn.acks.caught_up()) {
    close_connection(fd, Status::ok());
    return;
  }
  update_interest(conn);
}

void TcpListenSource::deliver_acks() {
  std::unordered_map<std::uint64_t, std::uint64_t> done;
  {
    MutexLock lock(done_mu_);
    if (done_.empty()) return;
    done.swap(done_);
  }
  for (const auto& [stream, next_seq] : done) {
    const auto s = v2_streams_.find(stream);
    if (s == v2_streams_.end()) continue;  // its connection is gone: the producer re-sends
    const auto c = connections_.find(s->second);
    if (c == connections_.end()) continue;
    send_ack(*c->second, next_seq);
  }
}

void TcpListenSource::resume_paused(bool for_memory) {
  using State = FrameStreamReader::State;
  const auto now = SteadyClock::now();
  // Rate limits: each connection whose wait is over.
  std::vector<int> due;
  for (const auto& [fd, conn] : connections_) {
    if (conn->reader.state() == State::kPaused && conn->retry_at != SteadyClock::time_point{} &&
        conn->retry_at <= now) {
      due.push_back(fd);
    }
  }
  for (int fd : due) {
    auto& conn = *connections_.at(fd);
    conn.retry_at = {};
    conn.reader.resume();
    after_parse(conn);
  }
  if (!for_memory) return;
  // Memory: in the order they paused, until one has to pause again.
  while (!paused_for_memory_.empty()) {
    const int fd = paused_for_memory_.front();
    paused_for_memory_.pop_front();
    const auto it = connections_.find(fd);
    if (it == connections_.end() || it->second->reader.state() != State::kPaused) continue;
    auto& conn = *it->second;
    conn.reader.resume();
    const bool paused_again = conn.reader.state() == State::kPaused;
    after_parse(conn);
    if (paused_again) {
      // after_parse queued it at the back; it keeps its turn at the front.
      if (!paused_for_memory_.empty() && paused_for_memory_.back() == fd) {
        paused_for_memory_.pop_back();
        paused_for_memory_.push_front(fd);
      }
      break;
    }
  }
}

void TcpListenSource::close_idle_connections() {
  using State = FrameStreamReader::State;
  const auto now = SteadyClock::now();
  // Memory held for a partial frame is memory others may be waiting for: while any connection
  // waits, a holder that sends nothing for this long goes, long before the idle timeout.
  const auto stall = std::min<SteadyClock::duration>(options_.idle_timeout, std::chrono::seconds(5));
  const bool others_wait = std::any_of(connections_.begin(), connections_.end(), [](const auto& entry) {
    const auto& c = *entry.second;
    return c.reader.state() == State::kPaused && c.retry_at == SteadyClock::time_point{};
  });
  std::vector<int> idle, hoarding;
  for (auto& [fd, conn] : connections_) {
    if (conn->reader.bytes_received() != conn->bytes_at_check) {
      conn->bytes_at_check = conn->reader.bytes_received();
      conn->last_byte = now;
    } else if (others_wait && conn->reader.reserved() > 0 && conn->reader.state() == State::kOpen &&
               now - conn->last_byte >= stall) {
      hoarding.push_back(fd);
      continue;
    }
    const bool progressed = conn->reader.frames() != conn->frames_at_check;
    // The server's own doing is never the peer's idleness: a connection it paused, or one
    // waiting for its frames to be done.
    const bool ours = conn->reader.state() == State::kPaused ||
                      (conn->draining && conn->acks.wanted() < conn->reader.next_seq());
    if (progressed || ours) {
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
  for (int fd : hoarding) {
    const auto it = connections_.find(fd);
    if (it == connections_.end()) continue;
    const auto held = it->second->reader.reserved();
    close_connection(
        fd, Status(Code::kLimit,
                   fmt::format("held {} KiB of the memory budget for a partial frame and sent nothing for "
                               "{} ms while other connections waited (rule: --idle-timeout, at most 5 s "
                               "for a partial frame when memory runs short)",
                               held >> 10,
                               std::chrono::duration_cast<std::chrono::milliseconds>(stall).count())));
  }
}

void TcpListenSource::close_connection(int fd, const Status& why) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto& conn = *it->second;
  if (conn.registered) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (why.is_ok()) {
    spdlog::debug("{}: stream {} from {} ended after {} frames", name(), conn.reader.stream(), conn.peer,
                  conn.reader.frames());
  } else if (why.code() != Code::kClosed) {
    spdlog::warn("{}: closed stream {} from {} after {} frames: {}", name(), conn.reader.stream(), conn.peer,
                 conn.reader.frames(), why.to_string());
  }
  if (conn.reader.acks_enabled()) {
    const auto s = v2_streams_.find(conn.reader.stream());
    if (s != v2_streams_.end() && s->second == fd) v2_streams_.erase(s);
  }
  if (why.is_ok() || why.code() == Code::kClosed) conn.io.close_notify();
  sink_->close_stream(conn.reader.stream(), why);
  connections_.erase(it);
}

}  // namespace sluice::source
