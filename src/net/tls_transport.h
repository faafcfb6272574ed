// Transport: one connected socket's byte stream, in the clear or through a TLS session, with the
// same non-blocking recv/send for both, so that a connection's code does not care which.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "net/socket.h"
#include "net/tls_context.h"
#include "sluice/status.h"

namespace sluice::net {

/// Why a TLS handshake was refused, for metrics (a label) and logs.
enum class TlsRefusal : std::size_t {
  kCertificate,  // no client certificate, or one that does not verify against --tls-ca
  kVersion,      // a protocol version below TLS 1.2, or nothing in common
  kTimeout,      // not complete within the deadline
  kProtocol,     // not TLS at all (a plaintext producer), or it broke off
};
inline constexpr std::size_t kTlsRefusals = 4;
const char* tls_refusal_name(TlsRefusal reason);

class Transport {
 public:
  enum class Io {
    kOk,         // `bytes` moved (handshake: complete)
    kWantRead,   // retry once the socket is readable
    kWantWrite,  // retry once the socket is writable
    kEof,        // the peer closed its side
    kError,      // see `error`
  };
  struct Outcome {
    Outcome(Io i = Io::kOk, std::size_t n = 0) : io(i), bytes(n) {}  // NOLINT(google-explicit-constructor)
    Outcome(Io i, Status e) : io(i), error(std::move(e)) {}
    Io io = Io::kOk;
    std::size_t bytes = 0;
    Status error;
    /// A handshake that ended in kEof or kError: why, by kind.
    TlsRefusal refusal = TlsRefusal::kProtocol;
  };

  /// Plain bytes on `fd` (not owned), exactly as the socket carries them.
  explicit Transport(int fd = -1) : fd_(fd) {}
  /// Through `ssl`, which is bound to the same socket and set to accept or connect.
  Transport(int fd, SslPtr ssl) : fd_(fd), ssl_(std::move(ssl)) {}

  bool is_tls() const { return ssl_ != nullptr; }
  /// One step of the TLS handshake on a non-blocking socket (kOk at once when plain): kOk when it
  /// is complete, kWantRead / kWantWrite to wait, kEof / kError when it failed.
  Outcome handshake();
  Outcome recv(std::span<std::uint8_t> into);
  Outcome send(std::span<const std::uint8_t> bytes);
  /// Decrypted bytes already taken off the socket: readable although epoll will not say so.
  bool has_buffered_input() const;
  /// Sends TLS's close_notify if the socket takes it now (never waits); nothing when plain.
  void close_notify();
  /// After a complete handshake: the subject of the peer's verified certificate, or "".
  std::string peer_subject() const;
  /// The negotiated protocol ("TLSv1.3"), or "" when plain.
  std::string protocol() const;

  /// For a producer's own thread: waits (poll) whenever the transport has to. The handshake fails
  /// after `timeout`; send_all sends every byte (plain: net::write_all, as without TLS).
  Status handshake_within(std::chrono::milliseconds timeout);
  Status send_all(std::span<const std::uint8_t> bytes);

 private:
  Outcome ssl_outcome(int ret, const char* what, bool handshaking);

  int fd_ = -1;
  SslPtr ssl_;
};

/// A producer's connection to `to`: plain TCP (a blocking socket, as before TLS) when `tls` is
/// null, else a non-blocking socket with a completed TLS handshake that verified the server.
struct ClientConnection {
  Fd fd;
  Transport io;
};
Result<ClientConnection> connect_client(const Endpoint& to, const TlsClient* tls,
                                        std::chrono::milliseconds timeout);

}  // namespace sluice::net
