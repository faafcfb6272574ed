// sluice serve: run the pipeline until Ctrl-C or SIGTERM.
#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/cli_support.h"
#include "cli/serve_loop.h"
#include "engine/streaming_context.h"
#include "http/http_server.h"
#include "observe/batch_history.h"
#include "observe/pipeline_status.h"
#include "observe/result_observer.h"
#include "sink/json_lines_sink.h"
#include "source/source_factory.h"
#include "source/tcp_connect_source.h"
#include "source/tcp_listen_source.h"
#include "store/write_ahead_log.h"
#include "video/url_redaction.h"
#include "vision/preprocess.h"

namespace sluice::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> listen;
  std::vector<std::string> connect;
  std::vector<std::string> sources;  // --source KIND:TARGET?key=value&...
  std::string output = "-";
  std::string max_frame_bytes = "64MiB";
  std::size_t max_connections = 1024;
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
  // On a terminal, the log scrolls above one live status line. Installed before any thread logs.
  std::shared_ptr<StatusLineSink> status_line;
  if (!opts.quiet && isatty(STDERR_FILENO)) status_line = install_status_line_sink();
  if (opts.listen.empty() && opts.connect.empty() && opts.sources.empty()) {
    throw std::runtime_error(
        "no source: give --listen HOST:PORT (producers connect to us), --connect HOST:PORT or --source "
        "KIND:TARGET");
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
  std::unique_ptr<store::WriteAheadLog> wal;
  if (!opts.wal_dir.empty()) {
    auto policy = store::parse_fsync_policy(opts.wal_fsync);
    if (!policy) throw std::runtime_error(policy.status().message());
    auto opened = store::WriteAheadLog::open({opts.wal_dir, *policy, parse_duration(opts.wal_fsync_interval),
                                              parse_bytes(opts.wal_segment_bytes)});
    if (!opened) throw std::runtime_error(opened.status().message());
    wal = std::move(*opened);
  }
  // With a WAL the output is appended to: a restart adds the results of the replayed frames.
  auto sink = sink::JsonLinesSink::open(opts.output, {opts.append || wal != nullptr, opts.dedup});
  if (!sink) throw std::runtime_error(sink.status().message());

  // Every result line passes the observer on its way to the output (latency, errors, labels).
  observe::ResultObserver observed(**sink);
  observe::BatchHistory batches;
  engine::StreamingContext ctx(config, bundle, observed);
  ctx.add_listener(&batches);
  if (wal) ctx.set_write_ahead_log(wal.get(), opts.wal_dir);
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
  // --source: plugins are loaded and created here, so a bad path, symbol, ABI or key stops now.
  for (const auto& text : opts.sources) {
    auto spec = source::parse_source_spec(text);
    // The message quotes the option, which may hold a camera's password.
    if (!spec) throw std::runtime_error(video::redact_text(spec.status().message()));
    // Video sources decode straight to the pixels the model takes (RGB, or gray for gray models).
    const int channels = bundle.preprocess ? bundle.preprocess->channels() : 3;
    source::SourceDefaults defaults{max_frame, opts.max_connections, config.max_pixels, channels};
    if (bundle.preprocess) {
      defaults.video_resize_target = [spec = *bundle.preprocess](int w, int h) {
        return vision::resize_target(spec, w, h);
      };
    }
    auto made = source::make_source(*spec, defaults);
    if (!made) throw std::runtime_error(made.status().message());
    ctx.add_source(std::move(*made));
  }
  ServeLoopOptions loop;
  loop.http = opts.http;
  loop.quiet = opts.quiet;
  loop.status_line = status_line;
  loop.stop_timeout = stop_timeout;
  loop.ready_message = "serving; Ctrl-C or SIGTERM stops after the in-flight batches";
  loop.unfinished = [](std::uint64_t in_flight) {
    return fmt::format("{} accepted frames have no result line", in_flight);
  };
  return serve_until_signalled(ctx, batches, observed, signals, loop);
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
  opts->model.add_to(*cmd, /*model_required=*/true);
  opts->engine.add_to(*cmd);
  cmd->callback([opts] {
    if (const int rc = run_serve(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
