#include "cli/serve_loop.h"

#include <cstdio>
#include <cstdlib>
#include <future>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/progress_reporter.h"
#include "http/http_server.h"
#include "monitor/pipeline_status.h"

namespace sluice::cli {

int serve_until_signalled(monitor::PipelineView& view, const StopPipeline& stop, SignalWaiter& signals,
                          const ServeLoopOptions& options) {
  auto& ctx = view.context;
  std::unique_ptr<http::HttpServer> http_server;
  if (!options.http.empty()) {
    auto ep = http::parse_http_endpoint(options.http);
    if (!ep) throw std::runtime_error("--http: " + ep.status().message());
    http::HttpServerOptions http_options;
    http_options.allowed_hosts = http::parse_allowed_hosts(options.http_allowed_hosts);
    auto started = http::HttpServer::start(*ep, view, http_options);
    if (!started) {
      spdlog::error("cannot start: {}", started.status().to_string());
      return 1;
    }
    http_server = std::move(*started);
    const auto url = fmt::format("http://{}/", http_server->bound().to_string());
    if (!http::is_loopback_host(ep->host)) {
      spdlog::warn("http: {} is reachable from other machines, and the dashboard has no authentication", url);
    }
    spdlog::info("http: dashboard at {}, Prometheus metrics at {}metrics", url, url);
  }
  monitor::StatusSampler progress_sampler(view);
  std::unique_ptr<ProgressReporter> progress;
  if (!options.quiet) progress = std::make_unique<ProgressReporter>(progress_sampler, options.status_line);
  spdlog::info("{}", options.ready_message);
  while (signals.wait_for(std::chrono::milliseconds(1000)) == 0) {
  }
  spdlog::info(
      "stopping: no new frames; finishing in-flight batches within {} ms (send the signal again to force)",
      options.stop_timeout.count());
  const auto deadline = std::chrono::steady_clock::now() + options.stop_timeout;
  progress.reset();
  // The pipeline's own deadline is a little later: the loop below decides, and says why.
  auto stopped = std::async(std::launch::async, [&] { return stop(deadline + std::chrono::seconds(1)); });
  while (stopped.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    const bool forced = signals.wait_for(std::chrono::milliseconds(50)) != 0;
    if (forced || std::chrono::steady_clock::now() >= deadline) {
      spdlog::error(
          "{}: {}", forced ? "forced stop" : "--stop-timeout expired",
          options.unfinished(ctx.metrics().in_flight()) +
              (ctx.sink_healthy() ? std::string()
                                  : fmt::format("; the output cannot be written ({}): free space or fix "
                                                "the error, then start again",
                                                ctx.sink_error())));
      std::fflush(nullptr);
      std::_Exit(forced ? 130 : 1);
    }
  }
  return stopped.get() == 0 ? 0 : 1;
}

}  // namespace sluice::cli
