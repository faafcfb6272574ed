#include "http/http_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http/dashboard_assets.h"
#include "http/gated_socket_stream.h"
#include "http/header_gate.h"
#include "http/host_policy.h"
#include "http/http_rejections.h"
#include "http/metrics_page.h"
#include "monitor/pipeline_status.h"
#include "monitor/status_json.h"
#include "observe/prometheus_text.h"

namespace sluice::http {
namespace {
// Dashboards and scrapers are few: a small pool keeps the thread budget for the executors. Slow
// clients cannot hold these threads: the HeaderGate waits for headers, and every wait on a socket
// after it is bounded by kSocketTimeout and the whole request by kRequestDeadline.
constexpr std::size_t kHttpThreads = 4;
constexpr std::size_t kDefaultBatches = 120;
constexpr std::chrono::milliseconds kSocketTimeout{5000};
constexpr std::chrono::milliseconds kRequestDeadline{10000};
constexpr std::size_t kMaxBodyBytes = 64 * 1024;  // httplib's own limit; sluice refuses any body first
constexpr std::size_t kMaxHeaders = 100;

// Runs httplib's accept-loop task at once on the accepting thread: the task only hands the socket
// to the HeaderGate, which never blocks.
class InlineTaskQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

void close_socket(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace

std::vector<std::string> parse_allowed_hosts(std::string_view text) {
  std::vector<std::string> hosts;
  std::stringstream in{std::string(text)};
  for (std::string item; std::getline(in, item, ',');) {
    const auto begin = item.find_first_not_of(" \t");
    if (begin == std::string::npos) continue;
    const auto end = item.find_last_not_of(" \t");
    hosts.push_back(item.substr(begin, end - begin + 1));
  }
  return hosts;
}

// httplib's Server with its connections routed through the HeaderGate and a worker pool.
class GatedServer final : public httplib::Server {
 public:
  explicit GatedServer(HttpRejections& rejections) : rejections_(rejections) {}
  ~GatedServer() override { stop_workers(); }
  GatedServer(const GatedServer&) = delete;
  GatedServer& operator=(const GatedServer&) = delete;

  void start_workers() {
    workers_ = std::make_unique<httplib::ThreadPool>(kHttpThreads);
    gate_ = std::make_unique<HeaderGate>(
        HeaderGateLimits{}, [this](int fd, std::string received) { hand_to_worker(fd, std::move(received)); },
        rejections_);
  }
  // After the accept loop stopped: no connection is added any more.
  void stop_workers() {
    stopping_.store(true);
    gate_.reset();
    if (workers_) workers_->shutdown();
    workers_.reset();
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    if (gate_ == nullptr || stopping_.load()) {
      close_socket(sock);
      return false;
    }
    gate_->add(sock);
    return true;
  }

  void hand_to_worker(int fd, std::string received) {
    workers_->enqueue([this, fd, received = std::move(received)]() mutable {
      if (!stopping_.load()) {
        GatedSocketStream stream(fd, std::move(received), kSocketTimeout,
                                 std::chrono::steady_clock::now() + kRequestDeadline);
        bool closed = true;
        process_request(stream, /*close_connection=*/true, closed, nullptr);
      }
      close_socket(fd);
    });
  }

  HttpRejections& rejections_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<httplib::ThreadPool> workers_;
  std::unique_ptr<HeaderGate> gate_;  // declared after workers_: destroyed first, as it feeds them
};

Result<net::Endpoint> parse_http_endpoint(std::string_view text) {
  if (!text.empty() && text.find(':') == std::string_view::npos) {
    return net::parse_endpoint(fmt::format("127.0.0.1:{}", text));
  }
  if (!text.empty() && text.front() == ':') return net::parse_endpoint(fmt::format("127.0.0.1{}", text));
  return net::parse_endpoint(text);
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr addr{};
  const std::string h(host);
  return inet_pton(AF_INET, h.c_str(), &addr) == 1 && (ntohl(addr.s_addr) >> 24) == 127;
}

struct HttpServer::Impl {
  Impl(monitor::PipelineView v, const net::Endpoint& endpoint, const HttpServerOptions& options)
      : view(std::move(v)), sampler(view), hosts(endpoint.host, options.allowed_hosts), server(rejections) {}
  // 0 when `req` may be answered; else the status, with `res` saying which rule refused it.
  int refusal(const httplib::Request& req, httplib::Response& res);

  monitor::PipelineView view;
  monitor::StatusSampler sampler;
  HostPolicy hosts;
  HttpRejections rejections;
  GatedServer server;
  net::Endpoint bound;
  std::thread thread;
};

int HttpServer::Impl::refusal(const httplib::Request& req, httplib::Response& res) {
  auto refuse = [&](int status, RejectReason reason, const std::string& why) {
    rejections.record(
        reason, fmt::format("{} {} from {}: {}", req.method, req.path.substr(0, 100), req.remote_addr, why));
    res.status = status;
    res.set_content(why + "\n", "text/plain; charset=utf-8");
    return status;
  };
  if (const auto host = req.get_header_value("Host"); !hosts.allows(host)) {
    return refuse(
        403, RejectReason::kHost,
        fmt::format("Host '{}' is not allowed (rule: --http-allowed-hosts): sluice answers its bound "
                    "address, localhost, 127.0.0.1 and [::1]; add other names to --http-allowed-hosts",
                    HostPolicy::host_name(host).substr(0, 100)));
  }
  if (req.headers.size() > kMaxHeaders) {
    return refuse(
        431, RejectReason::kHeadersTooLarge,
        fmt::format("more than {} request headers (rule: --http: header count limit)", kMaxHeaders));
  }
  const auto length = req.get_header_value("Content-Length");
  if (req.has_header("Transfer-Encoding") || (!length.empty() && length != "0")) {
    return refuse(413, RejectReason::kBody,
                  "request bodies are refused (rule: --http serves GET and HEAD only, without a body)");
  }
  if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET, HEAD");
    return refuse(405, RejectReason::kMethod,
                  fmt::format("method {} is not served (rule: --http serves GET and HEAD only)",
                              req.method.substr(0, 20)));
  }
  return 0;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->server.stop_workers();
}

const net::Endpoint& HttpServer::bound() const {
  return impl_->bound;
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const net::Endpoint& endpoint,
                                                      monitor::PipelineView view, HttpServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(view), endpoint, options);
  Impl* self = impl.get();
  auto& server = impl->server;
  // httplib owns the queue it is handed and deletes it when it stops.
  server.new_task_queue = [] { return std::make_unique<InlineTaskQueue>().release(); };
  server.set_keep_alive_max_count(1);  // one request per connection: each one passes the HeaderGate
  server.set_payload_max_length(kMaxBodyBytes);
  server.set_pre_routing_handler([self](const httplib::Request& req, httplib::Response& res) {
    return self->refusal(req, res) != 0 ? httplib::Server::HandlerResponse::Handled
                                        : httplib::Server::HandlerResponse::Unhandled;
  });
  // A client that asks before sending its body hears the refusal first.
  server.set_expect_100_continue_handler([self](const httplib::Request& req, httplib::Response& res) {
    const int status = self->refusal(req, res);
    return status != 0 ? status : 100;
  });

  server.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    observe::PrometheusText http_metrics;
    self->rejections.render(http_metrics);
    res.set_content(render_metrics(self->view) + http_metrics.text(),
                    std::string(observe::PrometheusText::kContentType).c_str());
  });
  server.Get("/api/status", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(monitor::status_json(self->sampler.sample(), self->view.context).dump(),
                    "application/json");
    res.set_header("Cache-Control", "no-store");
  });
  server.Get("/api/batches", [self](const httplib::Request& req, httplib::Response& res) {
    std::size_t limit = kDefaultBatches;
    if (req.has_param("limit")) {
      const auto text = req.get_param_value("limit");
      const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
      if (ec != std::errc() || ptr != text.data() + text.size() || limit == 0) {
        res.status = 400;
        res.set_content(nlohmann::json{{"error", "limit must be a positive integer"}}.dump(),
                        "application/json");
        return;
      }
    }
    const auto batches = self->view.batches.latest(std::min(limit, self->view.batches.capacity()));
    res.set_content(monitor::batches_json(batches, self->view.context.config().batch_interval).dump(),
                    "application/json");
    res.set_header("Cache-Control", "no-store");
  });
  for (const auto& asset : dashboard_assets()) {
    const std::string path(asset.path == "/index.html" ? "/" : asset.path);
    auto handler = [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(asset.bytes.data(), asset.bytes.size(), std::string(asset.content_type).c_str());
    };
    server.Get(path, handler);
    if (path == "/") server.Get("/index.html", handler);
  }

  net::Endpoint bound = endpoint;
  if (endpoint.port == 0) {
    const int port = server.bind_to_any_port(endpoint.host);
    if (port <= 0) return Status(Code::kIo, fmt::format("--http {}: cannot bind", endpoint.to_string()));
    bound.port = static_cast<std::uint16_t>(port);
  } else if (!server.bind_to_port(endpoint.host, endpoint.port)) {
    return Status(Code::kIo, fmt::format("--http {}: cannot bind (in use, or not an address of this machine)",
                                         endpoint.to_string()));
  }
  impl->bound = bound;
  server.start_workers();
  impl->thread = std::thread([self] {
    if (!self->server.listen_after_bind()) spdlog::error("http: the server stopped with an error");
  });
  // stop() is a no-op until the loop runs: wait for it, so the destructor can always stop it.
  for (int i = 0; i < 5000 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::make_unique<HttpServer>(std::move(impl));
}

}  // namespace sluice::http
