// sluice serve: run the pipeline until Ctrl-C or SIGTERM.
#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/cli_support.h"
#include "engine/streaming_context.h"
#include "sink/json_lines_sink.h"
#include "source/tcp_connect_source.h"
#include "source/tcp_listen_source.h"

namespace sluice::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> listen;
  std::vector<std::string> connect;
  std::string output = "-";
  std::string max_frame_bytes = "64MiB";
  std::size_t max_connections = 1024;
  std::string idle_timeout = "60s";
  std::string stop_timeout = "30s";
  std::string log_level = "info";
  bool quiet = false;
  ModelOptions model;
  EngineOptions engine;
};

net::Endpoint endpoint_or_throw(const std::string& text) {
  auto ep = net::parse_endpoint(text);
  if (!ep) throw std::runtime_error(ep.status().message());
  return *ep;
}

int run_serve(const ServeOptions& opts) {
  SignalWaiter signals;
  setup_logging(opts.log_level, opts.quiet);
  if (opts.listen.empty() && opts.connect.empty()) {
    throw std::runtime_error(
        "no source: give --listen HOST:PORT (producers connect to us) or --connect HOST:PORT");
  }
  const auto config = opts.engine.resolve();
  const std::size_t max_frame = parse_bytes(opts.max_frame_bytes);
  if (max_frame == 0 || max_frame > static_cast<std::size_t>(INT32_MAX)) {
    throw std::runtime_error("--max-frame-bytes must be between 1 and 2147483647");
  }
  const auto idle_timeout = parse_duration(opts.idle_timeout);
  const auto stop_timeout = parse_duration(opts.stop_timeout);
  if (idle_timeout.count() <= 0) throw std::runtime_error("--idle-timeout must be positive");
  const auto bundle = opts.model.load();
  auto sink = sink::JsonLinesSink::open(opts.output);
  if (!sink) throw std::runtime_error(sink.status().message());

  engine::StreamingContext ctx(config, bundle, **sink);
  for (const auto& text : opts.listen) {
    ctx.add_source(std::make_unique<source::TcpListenSource>(
        source::TcpListenOptions{endpoint_or_throw(text), max_frame, opts.max_connections, idle_timeout}));
  }
  for (const auto& text : opts.connect) {
    source::TcpConnectOptions o;
    o.endpoint = endpoint_or_throw(text);
    o.max_frame_bytes = max_frame;
    ctx.add_source(std::make_unique<source::TcpConnectSource>(o));
  }
  if (auto st = ctx.start(); !st) {
    spdlog::error("cannot start: {}", st.to_string());
    return 1;
  }
  spdlog::info("serving; Ctrl-C or SIGTERM stops after the in-flight batches");
  while (signals.wait_for(std::chrono::milliseconds(1000)) == 0) {
  }
  spdlog::info("stopping: no new frames; finishing in-flight batches within {} ms (send the signal again to force)",
               stop_timeout.count());
  const auto deadline = std::chrono::steady_clock::now() + stop_timeout;
  auto stopped = std::async(std::launch::async, [&] { ctx.stop(); });
  while (stopped.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    const bool forced = signals.wait_for(std::chrono::milliseconds(50)) != 0;
    if (forced || std::chrono::steady_clock::now() >= deadline) {
      spdlog::error("{}: {} accepted frames have no result line", forced ? "forced stop" : "--stop-timeout expired",
                    ctx.metrics().in_flight());
      std::fflush(nullptr);
      std::_Exit(forced ? 130 : 1);
    }
  }
  return 0;
}

}  // namespace

void register_serve(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd =
      app.add_subcommand("serve", "Run the pipeline: receive frames, classify them, write JSON lines");
  cmd->add_option(
      "--listen", opts->listen,
      "tcp-listen source: accept producers on HOST:PORT; each connection is one stream (repeatable)");
  cmd->add_option(
      "--connect", opts->connect,
      "tcp-connect source: dial a producer at HOST:PORT and read its frames; reconnects with backoff "
      "(repeatable)");
  cmd->add_option("--output,-o", opts->output, "Where result lines go: a file path, or - for stdout")
      ->capture_default_str();
  cmd->add_option("--max-frame-bytes", opts->max_frame_bytes,
                  "Largest payload accepted; a longer length is a framing error that closes its connection")
      ->capture_default_str();
  cmd->add_option("--max-connections", opts->max_connections,
                  "Most concurrent producer connections per listener")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", opts->idle_timeout,
                  "Close a connection that completes no frame for this long (also stops slow-loris senders)")
      ->capture_default_str();
  cmd->add_option("--stop-timeout", opts->stop_timeout,
                  "On Ctrl-C/SIGTERM, how long in-flight batches may take before sluice exits anyway")
      ->capture_default_str();
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", opts->quiet, "Log errors only");
  opts->model.add_to(*cmd, /*model_required=*/true);
  opts->engine.add_to(*cmd);
  cmd->callback([opts] {
    if (const int rc = run_serve(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
