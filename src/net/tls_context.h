// TLS contexts over OpenSSL: a server's (--tls-cert, --tls-key, optionally --tls-ca for mutual
// TLS) that follows its files as they change, and a producer's (send --tls-ca ...).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "sluice/status.h"
#include "util/mutex.h"

namespace sluice::net {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

/// A server's TLS files (PEM). TLS is on when `cert` is set.
struct TlsServerFiles {
  std::string cert;  // certificate chain, leaf first (--tls-cert)
  std::string key;   // its private key (--tls-key)
  std::string ca;    // clients must present a certificate signed by these CAs (--tls-ca); empty: none asked
  bool enabled() const { return !cert.empty(); }
};

/// A producer's TLS settings. TLS is on when `ca` is set.
struct TlsClientFiles {
  std::string ca;    // the server's certificate must chain to these CAs (--tls-ca)
  std::string cert;  // a client certificate to present (--tls-cert), with its key (--tls-key)
  std::string key;
  std::string server_name;  // checked against the server's certificate: a DNS name or an IP address
  bool enabled() const { return !ca.empty(); }
};

/// A producer's TLS: its context, and the name the server's certificate must carry.
struct TlsClient {
  SslCtxPtr ctx;
  std::string server_name;
};

/// TLS 1.2 at least (1.3 preferred), OpenSSL's default cipher suites, no session resumption (each
/// connection verifies its peer against the files as they are now). Errors name the option and file.
Result<SslCtxPtr> make_server_context(const TlsServerFiles& files);
Result<SslCtxPtr> make_client_context(const TlsClientFiles& files);

/// A client session on a connected socket: SNI and hostname (or IP) verification set from
/// `server_name`. The handshake is the caller's (Transport::handshake).
Result<SslPtr> new_client_session(SSL_CTX* ctx, int fd, const std::string& server_name);

/// The subject of the peer's verified certificate (RFC 2253, "CN=producer-1,O=Example"), or "" when
/// it sent none.
std::string peer_subject(SSL* ssl);

/// What the OpenSSL error queue holds (and empties it), or `fallback` when it is empty.
std::string take_openssl_errors(const std::string& fallback);

/// From now on SIGHUP asks every TlsServerContext to reload its files (instead of ending the
/// process). Call once, from the main thread, before threads start.
void reload_tls_on_sighup();

/// The server context that new connections take, reloaded when SIGHUP arrives (see
/// reload_tls_on_sighup) or when a file's modification time, size or inode changes (checked every
/// `poll`). Connections keep the context they started with (an SSL holds a reference to its
/// SSL_CTX), so a reload drops none. A reload that fails keeps the old context and logs why.
class TlsServerContext {
 public:
  static Result<std::unique_ptr<TlsServerContext>> create(
      TlsServerFiles files, std::chrono::milliseconds poll = std::chrono::seconds(2));

  /// A server session on an accepted socket, with the current context.
  Result<SslPtr> new_session(int fd);
  /// Cheap unless a reload is due; call it often from one thread (an event loop).
  void maybe_reload();
  /// Reloads now; the error (the old context stays) or ok.
  Status reload();
  bool requires_client_certificate() const { return !files_.ca.empty(); }
  /// Successful reloads so far.
  std::uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }

 private:
  struct FileStamp {
    std::int64_t mtime_ns = 0;
    std::int64_t size = 0;
    ino_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  TlsServerContext(TlsServerFiles files, std::chrono::milliseconds poll, SslCtxPtr ctx);
  std::vector<FileStamp> stamps() const;

  const TlsServerFiles files_;
  const std::chrono::milliseconds poll_;
  Mutex mu_;
  SslCtxPtr ctx_ GUARDED_BY(mu_);
  // The reload checks: only the thread that calls maybe_reload() touches these.
  std::vector<FileStamp> stamps_;
  std::uint64_t signals_seen_ = 0;
  std::chrono::steady_clock::time_point next_poll_;
  std::atomic<std::uint64_t> reloads_{0};
};

}  // namespace sluice::net
