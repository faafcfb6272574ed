#include "http/http_server.h"

#include <arpa/inet.h>

#include <charconv>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http/dashboard_assets.h"
#include "http/metrics_page.h"
#include "monitor/pipeline_status.h"
#include "monitor/status_json.h"
#include "observe/prometheus_text.h"

namespace sluice::http {
namespace {
// Dashboards and scrapers are few: a small pool keeps the thread budget for the executors.
constexpr std::size_t kHttpThreads = 4;
constexpr std::size_t kDefaultBatches = 120;
}  // namespace

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
  explicit Impl(monitor::PipelineView v) : view(std::move(v)), sampler(view) {}
  monitor::PipelineView view;
  monitor::StatusSampler sampler;
  httplib::Server server;
  net::Endpoint bound;
  std::thread thread;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const net::Endpoint& HttpServer::bound() const {
  return impl_->bound;
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const net::Endpoint& endpoint,
                                                      monitor::PipelineView view) {
  auto impl = std::make_unique<Impl>(std::move(view));
  Impl* self = impl.get();
  auto& server = impl->server;
  // httplib owns the queue it is handed and deletes it when it stops.
  server.new_task_queue = [] { return std::make_unique<httplib::ThreadPool>(kHttpThreads).release(); };
  server.set_keep_alive_timeout(2);  // seconds; idle browser connections do not hold a worker long
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);

  server.Get("/metrics", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_metrics(self->view), std::string(observe::PrometheusText::kContentType).c_str());
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
  impl->thread = std::thread([self] {
    if (!self->server.listen_after_bind()) spdlog::error("http: the server stopped with an error");
  });
  // stop() is a no-op until the loop runs: wait for it, so the destructor can always stop it.
  for (int i = 0; i < 5000 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::make_unique<HttpServer>(std::move(impl));
}

}  // namespace sluice::http
