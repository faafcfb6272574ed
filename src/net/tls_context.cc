#include "net/tls_context.h"

#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

namespace sluice::net {
namespace {

std::atomic<std::uint64_t> g_sighup_count{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the SIGHUP handler needs a lock-free counter");

extern "C" void on_sighup(int) {
  g_sighup_count.fetch_add(1, std::memory_order_relaxed);
}

// A file OpenSSL is about to read: a clear message when it cannot be opened at all.
Status check_readable(const char* option, const std::string& path) {
  if (path.empty()) return Status(Code::kInvalidArgument, fmt::format("{} needs a file", option));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status(Code::kInvalidArgument, fmt::format("{} {}: {}", option, path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status(Code::kInvalidArgument, fmt::format("{} {}: not a regular file", option, path));
  }
  return Status::ok();
}

Status openssl_failure(const char* option, const std::string& path, const char* what) {
  return Status(Code::kInvalidArgument,
                fmt::format("{} {}: {}: {}", option, path, what, take_openssl_errors("unknown error")));
}

// OpenSSL writes to its socket with write(2), which raises SIGPIPE when the peer has gone: that
// would end the process where the plain path (send with MSG_NOSIGNAL) gets EPIPE. A handler the
// application installed stays.
void ignore_sigpipe() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
}

// The settings both sides share: TLS 1.2 at least, no resumption, no renegotiation, and writes
// that may be partial and retried from a moved buffer (the callers keep unsent bytes in vectors).
void apply_common(SSL_CTX* ctx) {
  ignore_sigpipe();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A peer that closes without close_notify ends its stream as a plain TCP peer would: the wire
  // format's own end-of-stream record, or a truncated frame, says whether that was clean.
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

Status load_identity(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  if (auto st = check_readable("--tls-cert", cert); !st) return st;
  if (auto st = check_readable("--tls-key", key); !st) return st;
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return openssl_failure("--tls-cert", cert, "not a PEM certificate chain");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (const auto e = ERR_peek_last_error();
        ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      return openssl_failure("--tls-key", key,
                             fmt::format("does not match the certificate in {}", cert).c_str());
    }
    return openssl_failure("--tls-key", key, "not a PEM private key");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return openssl_failure("--tls-key", key,
                           fmt::format("does not match the certificate in {}", cert).c_str());
  }
  return Status::ok();
}

Status load_ca(SSL_CTX* ctx, const std::string& ca) {
  if (auto st = check_readable("--tls-ca", ca); !st) return st;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    return openssl_failure("--tls-ca", ca, "not PEM CA certificates");
  }
  return Status::ok();
}

}  // namespace

std::string take_openssl_errors(const std::string& fallback) {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    // "error:0A000086:SSL routines::certificate verify failed": the reason is what people read.
    const char* reason = ERR_reason_error_string(e);
    text += reason ? reason : buf;
  }
  return text.empty() ? fallback : text;
}

Result<SslCtxPtr> make_server_context(const TlsServerFiles& files) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status(Code::kInternal, "SSL_CTX_new: " + take_openssl_errors("out of memory"));
  apply_common(ctx.get());
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  if (auto st = load_identity(ctx.get(), files.cert, files.key); !st) return st;
  if (!files.ca.empty()) {
    if (auto st = load_ca(ctx.get(), files.ca); !st) return st;
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str());
    if (names == nullptr) return openssl_failure("--tls-ca", files.ca, "holds no CA certificate");
    SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

Result<SslCtxPtr> make_client_context(const TlsClientFiles& files) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Status(Code::kInternal, "SSL_CTX_new: " + take_openssl_errors("out of memory"));
  apply_common(ctx.get());
  if (auto st = load_ca(ctx.get(), files.ca); !st) return st;
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (files.cert.empty() != files.key.empty()) {
    return Status(Code::kInvalidArgument, "--tls-cert and --tls-key go together: give both or neither");
  }
  if (!files.cert.empty()) {
    if (auto st = load_identity(ctx.get(), files.cert, files.key); !st) return st;
  }
  return ctx;
}

Result<SslPtr> new_client_session(SSL_CTX* ctx, int fd, const std::string& server_name) {
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    return Status(Code::kInternal, "SSL_new: " + take_openssl_errors("out of memory"));
  }
  in6_addr addr{};
  const bool is_ip = ::inet_pton(AF_INET, server_name.c_str(), &addr) == 1 ||
                     ::inet_pton(AF_INET6, server_name.c_str(), &addr) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) != 1) {
      return Status(Code::kInvalidArgument,
                    fmt::format("--tls-server-name '{}': not an address", server_name));
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl.get(), server_name.c_str()) != 1 ||
        SSL_set_tlsext_host_name(ssl.get(), server_name.c_str()) != 1) {
      return Status(Code::kInvalidArgument,
                    fmt::format("--tls-server-name '{}': not a host name", server_name));
    }
  }
  SSL_set_connect_state(ssl.get());
  return ssl;
}

std::string peer_subject(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio) return {};
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

void reload_tls_on_sighup() {
  struct sigaction sa {};
  sa.sa_handler = on_sighup;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGHUP, &sa, nullptr);
}

Result<std::unique_ptr<TlsServerContext>> TlsServerContext::create(TlsServerFiles files,
                                                                   std::chrono::milliseconds poll) {
  auto ctx = make_server_context(files);
  if (!ctx) return ctx.status();
  return std::unique_ptr<TlsServerContext>(new TlsServerContext(std::move(files), poll, std::move(*ctx)));
}

TlsServerContext::TlsServerContext(TlsServerFiles files, std::chrono::milliseconds poll, SslCtxPtr ctx)
    : files_(std::move(files)),
      poll_(poll),
      ctx_(std::move(ctx)),
      stamps_(stamps()),
      signals_seen_(g_sighup_count.load(std::memory_order_relaxed)),
      next_poll_(std::chrono::steady_clock::now() + poll) {}

std::vector<TlsServerContext::FileStamp> TlsServerContext::stamps() const {
  std::vector<FileStamp> out;
  for (const auto* path : {&files_.cert, &files_.key, &files_.ca}) {
    FileStamp stamp;
    struct stat st {};
    if (!path->empty() && ::stat(path->c_str(), &st) == 0) {
      stamp.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      stamp.size = static_cast<std::int64_t>(st.st_size);
      stamp.inode = st.st_ino;
    }
    out.push_back(stamp);
  }
  return out;
}

Result<SslPtr> TlsServerContext::new_session(int fd) {
  MutexLock lock(mu_);
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    return Status(Code::kInternal, "SSL_new: " + take_openssl_errors("out of memory"));
  }
  SSL_set_accept_state(ssl.get());
  return ssl;
}

void TlsServerContext::maybe_reload() {
  const auto signals = g_sighup_count.load(std::memory_order_relaxed);
  const bool signalled = signals != signals_seen_;
  const auto now = std::chrono::steady_clock::now();
  if (!signalled && now < next_poll_) return;
  signals_seen_ = signals;
  next_poll_ = now + poll_;
  if (!signalled && stamps() == stamps_) return;
  if (auto st = reload(); !st) {
    spdlog::error("tls: {}; new connections keep the previous certificate", st.message());
  } else {
    spdlog::info("tls: reloaded {} and {}{}{} ({})", files_.cert, files_.key,
                 files_.ca.empty() ? "" : " and ", files_.ca, signalled ? "SIGHUP" : "the files changed");
  }
}

Status TlsServerContext::reload() {
  // Taken before reading, so a file written during the read is read again at the next poll.
  auto stamps_now = stamps();
  auto ctx = make_server_context(files_);
  stamps_ = std::move(stamps_now);
  if (!ctx) return Status(ctx.status().code(), "reload failed: " + ctx.status().message());
  {
    MutexLock lock(mu_);
    ctx_ = std::move(*ctx);
  }
  reloads_.fetch_add(1, std::memory_order_relaxed);
  return Status::ok();
}

}  // namespace sluice::net
