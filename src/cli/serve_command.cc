// sluice serve: run the pipeline until Ctrl-C or SIGTERM.
#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/cli_support.h"
#include "cli/serve_loop.h"
#include "engine/config_rules.h"
#include "engine/resident_budget.h"
#include "engine/streaming_context.h"
#include "http/http_server.h"
#include "monitor/pipeline_view.h"
#include "net/tls_context.h"
#include "observe/process_memory.h"
#include "sluice/pipeline.h"
#include "store/write_ahead_log.h"
#include "video/url_redaction.h"
#include "vision/preprocess.h"

namespace sluice::cli {
namespace {

void add_source_or_throw(Pipeline& pipeline, const std::string& spec, const char* option) {
  if (auto st = pipeline.add_source(spec); !st)
    throw std::runtime_error(fmt::format("{}: {}", option, st.message()));
}

struct ServeOptions {
  std::vector<std::string> listen;
  std::vector<std::string> connect;
  std::vector<std::string> sources;  // --source KIND:TARGET?key=value&...
  std::string output = "-";
  std::string max_frame_bytes = "64MiB";
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_peer = kDefaultMaxConnectionsPerPeer;
  std::string tokens;  // --tokens FILE
  std::string idle_timeout = "60s";
  std::string stop_timeout = "30s";
  std::string wal_dir;
  std::string wal_fsync = "always";
  std::string wal_fsync_interval = "100ms";
  std::string wal_segment_bytes = "64MiB";
  bool append = false;
  bool dedup = false;
  std::string log_level = "info";
  bool quiet = false;
  std::string http;  // empty: no HTTP endpoint
  std::string http_allowed_hosts;
  std::string tls_cert, tls_key, tls_ca;
  ModelOptions model;
  EngineOptions engine;
};

int run_serve(const ServeOptions& opts) {
  SignalWaiter signals;
  setup_logging(opts.log_level, opts.quiet);
  // On a terminal, the log scrolls above one live status line. Installed before any thread logs.
  std::shared_ptr<StatusLineSink> status_line;
  if (!opts.quiet && isatty(STDERR_FILENO)) status_line = install_status_line_sink();
  if (opts.listen.empty() && opts.connect.empty() && opts.sources.empty()) {
    throw std::runtime_error(
        "no source: give --listen HOST:PORT (producers connect to us), --connect HOST:PORT or --source "
        "KIND:TARGET");
  }
  // Checked before anything listens, so a bad address fails before producers can connect.
  if (!opts.http.empty()) {
    if (auto ep = http::parse_http_endpoint(opts.http); !ep)
      throw std::runtime_error("--http: " + ep.status().message());
  }
  PipelineConfig config = opts.engine.resolve();
  opts.model.apply_to(config);
  const std::uint64_t resident_bound = config.memory_budget;
  config.max_frame_bytes = parse_bytes(opts.max_frame_bytes);
  config.max_connections = opts.max_connections;
  if (opts.max_connections_per_peer == 0)
    throw std::runtime_error("--max-connections-per-peer must be at least 1");
  config.max_connections_per_peer = opts.max_connections_per_peer;
  config.tokens_file = opts.tokens;
  config.idle_timeout = parse_duration(opts.idle_timeout);
  if (!opts.tls_cert.empty() || !opts.tls_key.empty() || !opts.tls_ca.empty()) {
    if (opts.tls_cert.empty() || opts.tls_key.empty())
      throw std::runtime_error("TLS needs both --tls-cert and --tls-key (--tls-ca adds client certificates)");
    const bool dials =
        !opts.connect.empty() || std::any_of(opts.sources.begin(), opts.sources.end(),
                                             [](const auto& s) { return s.rfind("tcp-connect:", 0) == 0; });
    if (dials) {
      throw std::runtime_error(
          "--tls-cert secures tcp-listen sources (--listen); tcp-connect sources (--connect) do not speak "
          "TLS");
    }
    config.tls_cert = opts.tls_cert;
    config.tls_key = opts.tls_key;
    config.tls_ca = opts.tls_ca;
    net::reload_tls_on_sighup();
  }
  config.output = opts.output;
  config.append = opts.append;
  config.dedup = opts.dedup;
  config.wal_dir = opts.wal_dir;
  config.fsync = value_or_throw(store::parse_fsync_policy(opts.wal_fsync));
  config.fsync_interval = parse_duration(opts.wal_fsync_interval);
  config.wal_segment_bytes = parse_bytes(opts.wal_segment_bytes);
  config.submit = false;  // frames come from --listen, --connect and --source
  const auto stop_timeout = parse_duration(opts.stop_timeout);
  if (auto st = engine::validate(config); !st) throw std::runtime_error(with_option_names(st.message()));

  auto pipeline = Pipeline::load(config);
  if (!pipeline) throw std::runtime_error(pipeline.status().message());
  // --memory-budget bounds resident memory: what the process holds now (code, models) is fixed,
  // and most of the rest may hold frames in flight.
  const auto data_budget =
      engine::data_budget_within(resident_bound, observe::resident_memory_bytes().value_or(0));
  if (!data_budget) throw std::runtime_error(with_option_names(data_budget.status().message()));
  if (auto st = (*pipeline)->set_memory_budget(*data_budget); !st) throw std::runtime_error(st.message());
  for (const auto& text : opts.listen) add_source_or_throw(**pipeline, "tcp-listen:" + text, "--listen");
  for (const auto& text : opts.connect) add_source_or_throw(**pipeline, "tcp-connect:" + text, "--connect");
  // --source: plugins are loaded and created here, so a bad path, symbol, ABI or key stops now.
  for (const auto& text : opts.sources) add_source_or_throw(**pipeline, text, "--source");
  if (auto st = (*pipeline)->start(); !st) {
    spdlog::error("cannot start: {}", st.to_string());
    return 1;
  }
  auto& view = (*pipeline)->view();
  const auto frame_limit = view.context.budget_limit();
  if (config.max_frame_bytes > frame_limit) {
    spdlog::warn(
        "frames over {} MiB can never fit the memory budget and will be refused (--max-frame-bytes is {} "
        "MiB; raise --memory-budget to take them)",
        frame_limit >> 20, config.max_frame_bytes >> 20);
  }
  ServeLoopOptions loop;
  loop.http = opts.http;
  loop.http_allowed_hosts = opts.http_allowed_hosts;
  loop.quiet = opts.quiet;
  loop.status_line = status_line;
  loop.stop_timeout = stop_timeout;
  loop.ready_message = "serving; Ctrl-C or SIGTERM stops after the in-flight batches";
  loop.unfinished = [wal = !config.wal_dir.empty()](std::uint64_t in_flight) {
    return fmt::format("{} accepted frames have no result line{}", in_flight,
                       wal ? " (the write-ahead log keeps them for the next start)" : "");
  };
  return serve_until_signalled(
      view, [&](Clock::time_point deadline) { return view.context.stop(deadline); }, signals, loop);
}

}  // namespace

void register_serve(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd =
      app.add_subcommand("serve", "Run the pipeline: receive frames, classify them, write JSON lines");
  cmd->add_option(
      "--listen", opts->listen,
      "tcp-listen source: accept producers on HOST:PORT; each connection is one stream (repeatable; none by "
      "default)");
  cmd->add_option(
      "--connect", opts->connect,
      "tcp-connect source: dial a producer at HOST:PORT and read its frames; reconnects with backoff "
      "(repeatable)");
  cmd->add_option(
      "--source", opts->sources,
      "A source as KIND:TARGET?key=value&...: plugin:PATH.so?... (a source plugin), "
      "dir:PATH?done=DIR|delete=1 (watch a directory), tcp-listen:HOST:PORT, tcp-connect:HOST:PORT, "
      "video:URL?... (a video file, rtsp://, udp:// or tcp:// MPEG-TS, http(s)://; keys fps=N, every=N, "
      "keyframes=1, loop=1, realtime=1, drop=oldest|newest|none, queue=N, reconnect_backoff, "
      "reconnect_max_backoff, max_reconnects, stall_timeout, format, and any FFmpeg option such as "
      "rtsp_transport=tcp; write a '?' of the URL itself as %3F); "
      "plugin and dir restart with backoff (restart_backoff, restart_max_backoff, max_restarts) "
      "(repeatable)");
  cmd->add_option("--wal", opts->wal_dir,
                  "Write-ahead log directory: every accepted frame is logged before it is acknowledged, and "
                  "frames without a result are processed first after a restart");
  cmd->add_option("--wal-fsync", opts->wal_fsync,
                  "always (fdatasync per group commit: survives power loss), interval, or never (survives a "
                  "process crash only)")
      ->capture_default_str();
  cmd->add_option("--wal-fsync-interval", opts->wal_fsync_interval,
                  "With --wal-fsync interval: the most time between fsyncs")
      ->capture_default_str();
  cmd->add_option("--wal-segment-bytes", opts->wal_segment_bytes,
                  "WAL segment size; a segment is deleted once all its frames are done")
      ->capture_default_str();
  cmd->add_flag("--append", opts->append, "Append to --output instead of replacing it (implied by --wal)");
  cmd->add_flag(
      "--dedup", opts->dedup,
      "At most one line per (stream, seq) in --output, counting lines already there: with --wal and "
      "producer acks (send --ack) the output is exactly-once");
  cmd->add_option("--output,-o", opts->output, "Where result lines go: a file path, or - for stdout")
      ->capture_default_str();
  cmd->add_option(
         "--max-frame-bytes", opts->max_frame_bytes,
         "Largest payload accepted, in bytes (B, KiB, MiB, GiB, KB, MB, GB); a longer length is a framing "
         "error that closes its connection")
      ->capture_default_str();
  cmd->add_option("--max-connections", opts->max_connections,
                  "Most concurrent producer connections per listener")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-peer", opts->max_connections_per_peer,
                  "Most concurrent producer connections per listener from one IP address")
      ->capture_default_str();
  cmd->add_option(
      "--tokens", opts->tokens,
      "Producer identities for --listen: a YAML file of tokens (or their SHA-256), each with the "
      "stream ids and frame-name prefixes it may use; producers without a valid token are refused "
      "(see README, Producer identity)");
  cmd->add_option("--idle-timeout", opts->idle_timeout,
                  "Close a connection that completes no frame for this long (also stops slow-loris senders); "
                  "ms, s or min")
      ->capture_default_str();
  cmd->add_option(
         "--stop-timeout", opts->stop_timeout,
         "On Ctrl-C/SIGTERM, how long in-flight batches may take before sluice exits anyway; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", opts->quiet, "Log errors only, and no progress (no status line)");
  cmd->add_option("--http", opts->http,
                  "Serve the dashboard (/), Prometheus metrics (/metrics) and JSON status (/api/status, "
                  "/api/batches) on HOST:PORT; a bare PORT binds 127.0.0.1. Off by default")
      ->capture_default_str();
  cmd->add_option("--http-allowed-hosts", opts->http_allowed_hosts,
                  "Host names (comma-separated) the --http endpoint answers besides its bound address, "
                  "localhost, 127.0.0.1 and [::1]; other Host headers get 403 (against DNS rebinding)")
      ->capture_default_str();
  cmd->add_option("--tls-cert", opts->tls_cert,
                  "TLS on --listen: this PEM certificate chain (leaf first) with --tls-key; plaintext "
                  "producers are refused. Reloaded on SIGHUP and when the files change");
  cmd->add_option("--tls-key", opts->tls_key, "The PEM private key of --tls-cert");
  cmd->add_option("--tls-ca", opts->tls_ca,
                  "Mutual TLS: producers must present a client certificate signed by these PEM CA "
                  "certificates");
  opts->model.add_to(*cmd, /*model_required=*/true);
  opts->engine.add_to(*cmd);
  cmd->callback([opts] {
    if (const int rc = run_serve(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
