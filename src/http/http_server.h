// HttpServer: the --http endpoint. Serves /metrics (Prometheus), /api/status, /api/batches and
// the dashboard from its own small thread pool, off the pipeline's hot paths.
#pragma once

#include <memory>
#include <string_view>

#include "monitor/pipeline_view.h"
#include "net/socket.h"
#include "sluice/status.h"

namespace sluice::http {

/// "HOST:PORT", ":PORT" or "PORT"; without a host, 127.0.0.1 (loopback only).
Result<net::Endpoint> parse_http_endpoint(std::string_view text);
/// True for 127.0.0.0/8, ::1 and "localhost": addresses no other machine can reach.
bool is_loopback_host(std::string_view host);

class HttpServer {
 public:
  /// Binds `endpoint` (port 0: any free port) and serves until destroyed. `view` must outlive it.
  static Result<std::unique_ptr<HttpServer>> start(const net::Endpoint& endpoint, monitor::PipelineView view);
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
