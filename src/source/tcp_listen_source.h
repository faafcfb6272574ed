// TcpListenSource (tcp-listen): many producers connect to us; each connection is one stream.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "net/socket.h"
#include "net/tls_context.h"
#include "net/tls_transport.h"
#include "sluice/pipeline_config.h"
#include "source/ack_writer.h"
#include "source/frame_stream_reader.h"
#include "source/producer_gate.h"
#include "source/producer_identities.h"
#include "source/refusal_log.h"
#include "source/source.h"
#include "util/mutex.h"

namespace sluice::source {

struct TcpListenOptions {
  net::Endpoint endpoint;
  std::size_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
  std::size_t max_connections = 1024;
  /// A connection that completes no frame for this long, while the server was willing to read
  /// it, is closed. Counting whole frames, not bytes, also closes slow-loris connections.
  std::chrono::milliseconds idle_timeout{60000};
  /// Most concurrent connections from one peer IP address.
  std::size_t max_connections_per_peer = kDefaultMaxConnectionsPerPeer;
  /// --tokens: who may produce, on which stream ids and frame names. nullptr: no identities (a
  /// stream id is still held by one live connection at a time).
  std::shared_ptr<const ProducerIdentities> identities{};
  /// TLS on every connection (--tls-cert, --tls-key, --tls-ca); nullptr: plain TCP.
  std::shared_ptr<net::TlsServerContext> tls{};
  /// A TLS handshake that takes longer than this (or than idle_timeout) is refused.
  std::chrono::milliseconds tls_handshake_timeout{10000};
};

/// One thread runs an epoll loop over the listening socket and every connection, and nothing
/// blocks it: memory for a frame is reserved before its payload is read, and a connection that
/// cannot reserve (or is over its rate) is paused, so its producer is pushed back by TCP flow
/// control while the other connections go on. Frames are admitted without waiting for the
/// write-ahead log. Protocol-v2 acks go out when frames are done (their lines durable); a
/// producer that does not read them only fills its own socket.
class TcpListenSource final : public Source {
 public:
  explicit TcpListenSource(TcpListenOptions options);
  ~TcpListenSource() override;

  std::string name() const override;
  Status start(FrameSink& sink) override;
  void stop() override;
  void on_frames_done(std::span<const Frame> frames) override;
  /// The bound endpoint (its port is the real one when 0 was asked for). Valid after start().
  const net::Endpoint& bound() const { return bound_; }

 private:
  /// Each connection is its reader's gate: the source checks its hello and frame names.
  struct Connection final : ProducerGate {
    Connection(TcpListenSource& src, net::Fd f, std::string p, std::string ip, net::Transport t,
               FrameSink& sink, std::uint64_t stream, std::size_t max_frame)
        : source(src),
          fd(std::move(f)),
          peer(std::move(p)),
          peer_ip(std::move(ip)),
          io(std::move(t)),
          tls_subject(io.peer_subject()),
          reader(sink, stream, max_frame) {
      reader.set_gate(this);
    }
    std::optional<Refusal> on_hello(const wire::Hello& hello) override {
      return source.check_hello(*this, hello);
    }
    std::optional<Refusal> on_plain() override { return source.check_plain(*this); }
    std::optional<Refusal> on_frame(std::string_view name) override { return source.check_name(*this, name); }

    TcpListenSource& source;
    net::Fd fd;
    std::string peer;
    std::string peer_ip;  // for --max-connections-per-peer
    /// Every byte of the connection goes through it: plain, or TLS after a complete handshake.
    net::Transport io;
    /// The subject of the client certificate TLS verified (--tls-ca), or "".
    std::string tls_subject;
    bool read_wants_write = false;               // TLS: a read can go on once the socket is writable
    const ProducerIdentity* identity = nullptr;  // from the hello's token (--tokens)
    FrameStreamReader reader;
    AckWriter acks;
    bool registered = false;  // in the epoll set
    bool hello_acked = false;
    bool draining = false;  // v2 end of stream: waiting for its frames to be done, then the last ack
    std::chrono::steady_clock::time_point retry_at{};  // paused for the rate limit until then
    std::uint64_t frames_at_check = 0;
    std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();
    std::uint64_t bytes_at_check = 0;  // for a partial frame's holder that stalls while others wait
    std::chrono::steady_clock::time_point last_byte = std::chrono::steady_clock::now();
  };
  using SteadyClock = std::chrono::steady_clock;
  /// An accepted TLS connection until its handshake completes: no stream, no frame yet.
  struct Handshake {
    net::Fd fd;
    std::string peer;
    std::string ip;  // counted in per_peer_ from accept on
    net::Transport io;
    SteadyClock::time_point deadline;
    bool registered = false;
  };

  void run();
  void accept_all();
  /// Accept failed for want of file descriptors: the listener leaves the epoll set for a back-off.
  void pause_accepting(int error);
  void resume_accepting();
  std::optional<Refusal> check_hello(Connection& conn, const wire::Hello& hello);
  std::optional<Refusal> check_plain(Connection& conn);
  std::optional<Refusal> check_name(const Connection& conn, std::string_view name) const;
  /// Counts a refusal and logs it (rate-limited).
  void refused(observe::RefuseReason reason, const std::string& peer, const std::string& why);
  void warn_if_open_to_all() const;
  /// A connection ready for frames (plain at once, TLS after its handshake) becomes a stream.
  void open_connection(net::Fd fd, std::string peer, std::string ip, net::Transport io);
  /// Gives back one of a peer address's connections (--max-connections-per-peer).
  void release_peer(const std::string& ip);
  void continue_handshake(int fd);
  void refuse_handshake(int fd, net::TlsRefusal reason, const std::string& why);
  void close_late_handshakes();
  /// TLS connections whose decrypted input waits in OpenSSL, where epoll cannot see it.
  std::vector<int> buffered_readable() const;
  void on_readable(int fd);
  void on_writable(int fd);
  /// Acts on the reader's state after it parsed: pause, drain, close.
  void after_parse(Connection& conn);
  void update_interest(Connection& conn);
  void resume_paused(bool for_memory);
  void deliver_acks();
  void send_ack(Connection& conn, std::uint64_t next_seq);
  /// After an ack was sent or flushed: close on a socket error or once a drained stream's last
  /// ack is out, else keep watching for room to write.
  void after_ack(Connection& conn, const Status& sent);
  void close_idle_connections();
  void close_connection(int fd, const Status& why);
  void wake();

  TcpListenOptions options_;
  net::Endpoint bound_;
  FrameSink* sink_ = nullptr;
  net::Fd listener_, epoll_, wake_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::unordered_map<int, Handshake> handshakes_;
  std::unordered_map<std::uint64_t, int> v2_streams_;      // producer stream id -> its newest connection
  std::deque<int> paused_for_memory_;                      // in the order they paused
  std::unordered_map<std::string, std::size_t> per_peer_;  // peer IP -> open connections
  RefusalLog refusal_log_;
  bool accepting_ = true;                        // the listener is in the epoll set
  SteadyClock::time_point accept_resume_at_{};   // when !accepting_
  std::chrono::milliseconds accept_backoff_{0};  // the last back-off; 0 after an accept succeeds
  std::atomic<bool> stopping_{false};
  std::atomic<bool> room_{false};  // the budget may have room for paused connections

  Mutex done_mu_;  // committer thread -> loop
  std::unordered_map<std::uint64_t, std::uint64_t> done_
      GUARDED_BY(done_mu_);  // v2 stream -> next seq not done
  std::thread thread_;
};

}  // namespace sluice::source
