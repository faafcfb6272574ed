#include "source/tcp_listen_source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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
// Out of file descriptors, the listener rests this long (doubling up to the max) before it tries again.
constexpr std::chrono::milliseconds kAcceptBackoffMin{100};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};

// The peer's IP address without its port: --max-connections-per-peer counts by it.
std::string peer_ip(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
  }
  return text;
}

// A frame name as a log may show it: what a peer sent, with anything unprintable replaced.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

observe::RefuseReason tls_refuse_reason(net::TlsRefusal reason) {
  switch (reason) {
    case net::TlsRefusal::kCertificate:
      return observe::RefuseReason::kTlsCertificate;
    case net::TlsRefusal::kVersion:
      return observe::RefuseReason::kTlsVersion;
    case net::TlsRefusal::kTimeout:
      return observe::RefuseReason::kTlsTimeout;
    case net::TlsRefusal::kProtocol:
      break;
  }
  return observe::RefuseReason::kTlsProtocol;
}

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
  sink.set_wake([this] {
    room_ = true;
    wake();
  });
  spdlog::info("{}: listening{}", name(),
               !options_.tls                                 ? ""
               : options_.tls->requires_client_certificate() ? " (TLS, client certificates required)"
                                                             : " (TLS)");
  warn_if_open_to_all();
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void TcpListenSource::warn_if_open_to_all() const {
  const auto& host = options_.endpoint.host;
  const bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  if (loopback) return;
  const bool who_checked =
      options_.identities != nullptr || (options_.tls && options_.tls->requires_client_certificate());
  if (options_.tls && who_checked) return;
  const std::string where = host.empty() || host == "0.0.0.0" || host == "::" ? "every interface" : host;
  if (!options_.tls) {
    spdlog::warn(
        "{}: listening on {} without TLS{}: frames cross the network in the clear{}. Give "
        "--tls-cert/--tls-key "
        "(and --tls-ca or --tokens FILE to say who may produce), or bind to 127.0.0.1",
        name(), where, who_checked ? "" : " and without producer tokens",
        who_checked
            ? ""
            : ", anyone who can reach this port can send frames, and a protocol-v2 producer can use any "
              "stream id no live connection holds");
    return;
  }
  spdlog::warn(
      "{}: listening on {} with TLS but without --tls-ca or --tokens: anyone who can reach this port can "
      "send "
      "frames. Give --tls-ca (client certificates) or --tokens FILE to say who may produce",
      name(), where);
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
    if (!accepting_) until = std::min(until, accept_resume_at_);
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
    if (!accepting_ && SteadyClock::now() >= accept_resume_at_) resume_accepting();
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
      const int error = errno;
      if (error == EINTR) continue;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        pause_accepting(error);
      } else if (error != EAGAIN && error != EWOULDBLOCK && error != ECONNABORTED) {
        spdlog::warn("{}: accept failed: {}", name(), std::strerror(error));
      }
      return;
    }
    accept_backoff_ = std::chrono::milliseconds(0);
    std::string peer = net::peer_name(fd.get());
    if (connections_.size() + handshakes_.size() >= options_.max_connections) {
      refused(observe::RefuseReason::kMaxConnections, peer,
              fmt::format("{} connections already open (rule: --max-connections)",
                          connections_.size() + handshakes_.size()));
      continue;  // fd closes here
    }
    std::string ip = peer_ip(fd.get());
    if (auto& open = per_peer_[ip]; open >= options_.max_connections_per_peer) {
      refused(
          observe::RefuseReason::kPerPeer, peer,
          fmt::format("{} connections from {} already open (rule: --max-connections-per-peer)", open, ip));
      continue;
    }
    ++per_peer_[ip];  // a handshake counts too; given back when it is refused or its connection closes
    const int raw = fd.get();
    if (!options_.tls) {
      open_connection(std::move(fd), std::move(peer), std::move(ip), net::Transport(raw));
      continue;
    }
    auto session = options_.tls->new_session(raw);
    if (!session) {
      spdlog::error("{}: refused connection from {}: {}", name(), peer, session.status().to_string());
      release_peer(ip);
      continue;
    }
    const auto limit = std::min(options_.tls_handshake_timeout, options_.idle_timeout);
    handshakes_.emplace(raw, Handshake{std::move(fd), std::move(peer), std::move(ip),
                                       net::Transport(raw, std::move(*session)), SteadyClock::now() + limit});
    continue_handshake(raw);
  }
}

void TcpListenSource::release_peer(const std::string& ip) {
  if (const auto it = per_peer_.find(ip); it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
}

void TcpListenSource::open_connection(net::Fd fd, std::string peer, std::string ip, net::Transport io) {
  auto stream = sink_->open_stream(peer);
  if (!stream) {
    spdlog::error("{}: refused connection from {}: {}", name(), peer, stream.status().to_string());
    release_peer(ip);
    return;
  }
  const int raw = fd.get();
  auto conn = std::make_unique<Connection>(*this, std::move(fd), std::move(peer), std::move(ip),
                                           std::move(io), *sink_, *stream, options_.max_frame_bytes);
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

void TcpListenSource::pause_accepting(int error) {
  accept_backoff_ =
      accept_backoff_.count() == 0 ? kAcceptBackoffMin : std::min(accept_backoff_ * 2, kAcceptBackoffMax);
  refused(
      observe::RefuseReason::kFdExhausted, "a new peer",
      fmt::format("accept failed: {}; not accepting for {} ms (raise the file descriptor limit, ulimit -n, "
                  "or lower --max-connections)",
                  std::strerror(error), accept_backoff_.count()));
  if (accepting_) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
  accepting_ = false;
  accept_resume_at_ = SteadyClock::now() + accept_backoff_;
}

void TcpListenSource::resume_accepting() {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener_.get();
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &ev);
  accepting_ = true;
}

void TcpListenSource::refused(observe::RefuseReason reason, const std::string& peer, const std::string& why) {
  sink_->stats().count_refused(reason);
  refusal_log_.log(reason, name(), fmt::format("refused {}: {}", peer, why));
}

std::optional<Refusal> TcpListenSource::check_hello(Connection& conn, const wire::Hello& hello) {
  using observe::RefuseReason;
  const ProducerIdentity* identity = nullptr;
  if (const auto& ids = options_.identities) {
    // A client certificate TLS verified names an identity as a token does (its `subject`).
    const ProducerIdentity* certified =
        conn.tls_subject.empty() ? nullptr : ids->by_subject(conn.tls_subject);
    if (!hello.token.empty() || certified != nullptr) {
      identity = hello.token.empty() ? certified : ids->by_token(hello.token);
      if (identity == nullptr)
        return Refusal{RefuseReason::kToken, "the hello's token is not in the tokens file (rule: --tokens)"};
      if (certified != nullptr && certified != identity) {
        return Refusal{RefuseReason::kToken,
                       fmt::format("the hello's token is identity '{}' but the client certificate is '{}' "
                                   "(rule: --tokens, one identity per connection)",
                                   identity->name, certified->name)};
      }
      if (!identity->owns_stream(hello.stream)) {
        return Refusal{RefuseReason::kStreamId,
                       fmt::format("identity '{}' may not use stream id {} (rule: --tokens, its streams)",
                                   identity->name, hello.stream)};
      }
    } else if (!ids->allow_anonymous()) {
      return Refusal{
          RefuseReason::kNoCredential,
          "the hello has no token (rule: --tokens; the producer gives one with sluice send --token)"};
    } else if (const auto* owner = ids->owner_of(hello.stream)) {
      return Refusal{
          RefuseReason::kStreamId,
          fmt::format("stream id {} belongs to identity '{}' and the hello has no token (rule: --tokens)",
                      hello.stream, owner->name)};
    }
  }
  // A stream id is held by one live connection: a second one could take its seqs and its acks.
  if (const auto held = v2_streams_.find(hello.stream);
      held != v2_streams_.end() && held->second != conn.fd.get()) {
    const auto holder = connections_.find(held->second);
    if (holder != connections_.end()) {
      if (identity == nullptr || holder->second->identity != identity) {
        return Refusal{
            RefuseReason::kStreamTaken,
            fmt::format("stream id {} is held by a live connection from {} (rule: one connection per "
                        "producer stream id; a producer reconnects once its old connection closed)",
                        hello.stream, holder->second->peer)};
      }
      // The same identity again: its producer reconnected before the old connection was seen to close.
      close_connection(
          holder->first,
          Status(Code::kClosed, fmt::format("replaced by a new connection of identity '{}' from {}",
                                            identity->name, conn.peer)));
    }
  }
  v2_streams_[hello.stream] = conn.fd.get();
  conn.identity = identity;
  return std::nullopt;
}

std::optional<Refusal> TcpListenSource::check_plain(Connection& conn) {
  const auto& ids = options_.identities;
  if (ids == nullptr) return std::nullopt;
  // A plain producer has no hello; a client certificate can still name its identity.
  if (!conn.tls_subject.empty()) conn.identity = ids->by_subject(conn.tls_subject);
  if (conn.identity != nullptr || ids->allow_anonymous()) return std::nullopt;
  return Refusal{
      observe::RefuseReason::kNoCredential,
      "a producer without a hello has no identity (rule: --tokens; `anonymous: true` in the tokens file "
      "lets plain producers in, and a client certificate whose subject is an identity's names it)"};
}

std::optional<Refusal> TcpListenSource::check_name(const Connection& conn, std::string_view name) const {
  if (conn.identity == nullptr || conn.identity->may_name(name)) return std::nullopt;
  return Refusal{
      observe::RefuseReason::kNamePrefix,
      fmt::format("frame name '{}' is outside the name prefixes of identity '{}' (rule: --tokens, its names)",
                  printable(name), conn.identity->name)};
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
    open_connection(std::move(done.fd), std::move(done.peer), std::move(done.ip), std::move(done.io));
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
  refused(tls_refuse_reason(reason), it->second.peer,
          fmt::format("TLS handshake refused ({}): {} (rule: {})", net::tls_refusal_name(reason), why,
                      refusal_rule(reason)));
  release_peer(it->second.ip);
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
  // A protocol-v2 connection that is not read still watches for its producer's hang-up, edge-
  // triggered (one wake-up): nobody is left to take its acks, and the producer may reconnect.
  const bool watch_hangup = !reading && !writing && conn.reader.acks_enabled();
  if (!reading && !writing && !watch_hangup) {
    // A paused connection leaves the set altogether: a hang-up would otherwise wake the loop
    // again and again. resume_paused() puts it back. A plain producer's bytes wait in its socket.
    if (conn.registered) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.fd.get(), nullptr);
    conn.registered = false;
    return;
  }
  epoll_event ev{};
  ev.events =
      watch_hangup ? EPOLLRDHUP | EPOLLET : (reading ? EPOLLIN | EPOLLRDHUP : 0u) | (writing ? EPOLLOUT : 0u);
  ev.data.fd = conn.fd.get();
  epoll_ctl(epoll_.get(), conn.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, conn.fd.get(), &ev);
  conn.registered = true;
}

void TcpListenSource::on_readable(int fd) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  auto& conn = *it->second;
  using State = FrameStreamReader::State;
  if (conn.reader.acks_enabled() && (conn.draining || conn.reader.state() != State::kOpen)) {
    // Only a hang-up wakes a v2 connection that is not read (update_interest).
    close_connection(fd, Status(Code::kClosed, "the producer closed the connection"));
    return;
  }
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
    send_ack(conn, conn.reader.first_seq());
    if (connections_.count(fd) == 0) return;
  }
  switch (conn.reader.state()) {
    case State::kFailed:
      close_connection(fd, conn.reader.status());
      return;
    case State::kEnded:
      if (!conn.reader.acks_enabled() || conn.reader.peer_closed()) {
        // A v2 producer that closed reads no acks: its frames go on, its socket goes now.
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
    const auto it = connections_.find(fd);  // a hello may have replaced (closed) one of them
    if (it == connections_.end()) continue;
    auto& conn = *it->second;
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
  release_peer(conn.peer_ip);
  if (conn.reader.acks_enabled()) {
    const auto s = v2_streams_.find(conn.reader.stream());
    if (s != v2_streams_.end() && s->second == fd) v2_streams_.erase(s);
  }
  if (const auto& reason = conn.reader.refusal()) {
    // Counted as a refusal, not as a failed stream: a peer can cause it as often as it likes.
    refused(*reason, conn.peer, why.message());
    sink_->close_stream(conn.reader.stream(), Status(Code::kClosed, "refused"));
    connections_.erase(it);
    return;
  }
  if (why.is_ok()) {
    spdlog::debug("{}: stream {} from {} ended after {} frames", name(), conn.reader.stream(), conn.peer,
                  conn.reader.frames());
  } else if (why.code() != Code::kClosed) {
    spdlog::warn("{}: closed stream {} from {} after {} frames: {}", name(), conn.reader.stream(), conn.peer,
                 conn.reader.frames(), why.to_string());
  }
  if (why.is_ok() || why.code() == Code::kClosed) conn.io.close_notify();
  sink_->close_stream(conn.reader.stream(), why);
  connections_.erase(it);
}

}  // namespace sluice::source
