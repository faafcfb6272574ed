// HttpServer: the --http endpoint. Serves /metrics (Prometheus), /api/status, /api/batches and
// the dashboard from its own small thread pool, off the pipeline's hot paths.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "monitor/pipeline_view.h"
#include "net/socket.h"
#include "sluice/status.h"

namespace sluice::http {

/// "HOST:PORT", ":PORT" or "PORT"; without a host, 127.0.0.1 (loopback only).
Result<net::Endpoint> parse_http_endpoint(std::string_view text);
/// True for 127.0.0.0/8, ::1 and "localhost": addresses no other machine can reach.
bool is_loopback_host(std::string_view host);

struct HttpServerOptions {
  /// --http-allowed-hosts: Host header names answered besides the bound address and loopback.
  std::vector<std::string> allowed_hosts;
};

/// Splits --http-allowed-hosts "h1,h2" (spaces around names ignored).
std::vector<std::string> parse_allowed_hosts(std::string_view text);

/// Serves GET and HEAD only: a request body gets 413 unread, other methods 405, a Host header
/// that is not this server's (DNS rebinding) 403. Each connection carries one request; its
/// headers must arrive within 10 s and 16 KiB, read off the worker threads (see HeaderGate).
class HttpServer {
 public:
  /// Binds `endpoint` (port 0: any free port) and serves until destroyed. `view` must outlive it.
  static Result<std::unique_ptr<HttpServer>> start(const net::Endpoint& endpoint, monitor::PipelineView view,
                                                   HttpServerOptions options = {});
  ~HttpServer();  // stops serving and joins its threads
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The bound address (with the port chosen for port 0).
  const net::Endpoint& bound() const;

  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::http
