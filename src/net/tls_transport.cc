#include "net/tls_transport.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509.h>

namespace sluice::net {
namespace {

TlsRefusal classify(unsigned long openssl_error, long verify_result) {
  if (verify_result != X509_V_OK) return TlsRefusal::kCertificate;
  if (ERR_GET_LIB(openssl_error) != ERR_LIB_SSL) return TlsRefusal::kProtocol;
  switch (ERR_GET_REASON(openssl_error)) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      return TlsRefusal::kCertificate;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return TlsRefusal::kVersion;
    default:
      return TlsRefusal::kProtocol;
  }
}

}  // namespace

const char* tls_refusal_name(TlsRefusal reason) {
  switch (reason) {
    case TlsRefusal::kCertificate:
      return "certificate";
    case TlsRefusal::kVersion:
      return "version";
    case TlsRefusal::kTimeout:
      return "timeout";
    case TlsRefusal::kProtocol:
      return "protocol";
  }
  return "unknown";
}

Transport::Outcome Transport::ssl_outcome(int ret, const char* what, bool handshaking) {
  const int err = SSL_get_error(ssl_.get(), ret);
  const int saved_errno = errno;
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return {Io::kWantRead};
    case SSL_ERROR_WANT_WRITE:
      return {Io::kWantWrite};
    case SSL_ERROR_ZERO_RETURN:
      return {Io::kEof};
    default:
      break;
  }
  Outcome out{Io::kError};
  const long verify = handshaking ? SSL_get_verify_result(ssl_.get()) : X509_V_OK;
  const unsigned long first = ERR_peek_error();
  if (err == SSL_ERROR_SYSCALL && first == 0) {
    if (saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE) {
      out.io = handshaking ? Io::kError : Io::kEof;
      out.error = Status(Code::kIo, fmt::format("{}: the peer closed the connection", what));
      return out;
    }
    out.error = Status(Code::kIo, fmt::format("{}: {}", what, std::strerror(saved_errno)));
    return out;
  }
  out.refusal = classify(first, verify);
  std::string message = take_openssl_errors("TLS error");
  if (verify != X509_V_OK) message += fmt::format(" ({})", X509_verify_cert_error_string(verify));
  out.error = Status(Code::kIo, fmt::format("{}: {}", what, message));
  return out;
}

Transport::Outcome Transport::handshake() {
  if (!ssl_) return {Io::kOk};
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) return {Io::kOk};
  return ssl_outcome(ret, "TLS handshake", /*handshaking=*/true);
}

Transport::Outcome Transport::recv(std::span<std::uint8_t> into) {
  if (!ssl_) {
    while (true) {
      const ssize_t n = ::recv(fd_, into.data(), into.size(), MSG_DONTWAIT);
      if (n > 0) return {Io::kOk, static_cast<std::size_t>(n)};
      if (n == 0) return {Io::kEof};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::kWantRead};
      return Outcome(Io::kError, Status(Code::kIo, fmt::format("recv: {}", std::strerror(errno))));
    }
  }
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_.get(), into.data(), into.size(), &n);
  if (ret == 1) return {Io::kOk, n};
  return ssl_outcome(ret, "TLS recv", /*handshaking=*/false);
}

Transport::Outcome Transport::send(std::span<const std::uint8_t> bytes) {
  if (!ssl_) {
    while (true) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return {Io::kOk, static_cast<std::size_t>(n)};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::kWantWrite};
      return Outcome(Io::kError, Status(Code::kIo, fmt::format("send: {}", std::strerror(errno))));
    }
  }
  if (bytes.empty()) return {Io::kOk};
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &n);
  if (ret == 1) return {Io::kOk, n};
  return ssl_outcome(ret, "TLS send", /*handshaking=*/false);
}

bool Transport::has_buffered_input() const {
  return ssl_ && SSL_pending(ssl_.get()) > 0;
}

void Transport::close_notify() {
  if (!ssl_ || !SSL_is_init_finished(ssl_.get())) return;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_.get());
  ERR_clear_error();
}

std::string Transport::peer_subject() const {
  return ssl_ ? net::peer_subject(ssl_.get()) : std::string();
}

std::string Transport::protocol() const {
  return ssl_ ? SSL_get_version(ssl_.get()) : "";
}

namespace {
// Waits until the socket is ready for what `io` asks; false after `timeout_ms` or on an error.
bool wait_for(int fd, Transport::Io io, int timeout_ms) {
  pollfd pfd{fd, static_cast<short>(io == Transport::Io::kWantWrite ? POLLOUT : POLLIN), 0};
  while (true) {
    const int n = ::poll(&pfd, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}
}  // namespace

Status Transport::handshake_within(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto step = handshake();
    if (step.io == Io::kOk) return Status::ok();
    if (step.io != Io::kWantRead && step.io != Io::kWantWrite) {
      return step.error.is_ok() ? Status(Code::kIo, "TLS handshake: the server closed the connection")
                                : step.error;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_for(fd_, step.io, static_cast<int>(left.count()))) {
      return Status(Code::kIo, fmt::format("TLS handshake: not complete within {} ms", timeout.count()));
    }
  }
}

Status Transport::send_all(std::span<const std::uint8_t> bytes) {
  if (!ssl_) return write_all(fd_, bytes);
  while (!bytes.empty()) {
    const auto sent = send(bytes);
    if (sent.io == Io::kOk) {
      bytes = bytes.subspan(sent.bytes);
    } else if (sent.io == Io::kWantRead || sent.io == Io::kWantWrite) {
      wait_for(fd_, sent.io, 1000);
    } else {
      return sent.error.is_ok() ? Status(Code::kClosed, "the server closed the connection") : sent.error;
    }
  }
  return Status::ok();
}

Result<ClientConnection> connect_client(const Endpoint& to, const TlsClient* tls,
                                        std::chrono::milliseconds timeout) {
  auto fd = connect_tcp(to, timeout);
  if (!fd) return fd.status();
  const int raw = fd->get();
  if (tls == nullptr) return ClientConnection{std::move(*fd), Transport(raw)};
  if (auto st = set_non_blocking(raw); !st) return st;
  auto ssl = new_client_session(tls->ctx.get(), raw, tls->server_name);
  if (!ssl) return ssl.status();
  ClientConnection conn{std::move(*fd), Transport(raw, std::move(*ssl))};
  if (auto st = conn.io.handshake_within(timeout); !st) {
    return Status(st.code(), fmt::format("{}: {}", to.to_string(), st.message()));
  }
  return conn;
}

}  // namespace sluice::net
