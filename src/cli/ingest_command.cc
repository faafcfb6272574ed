// sluice ingest: accept frames from any source and XADD them to Redis for the workers.
#include <cstdint>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/cli_support.h"
#include "cli/redis_options.h"
#include "engine/memory_budget.h"
#include "redis/backlog_monitor.h"
#include "redis/frame_writer.h"
#include "redis/redis_ingest_sink.h"
#include "sluice/pipeline_config.h"
#include "source/producer_identities.h"
#include "source/source_factory.h"
#include "source/tcp_connect_source.h"
#include "source/tcp_listen_source.h"
#include "util/quantity.h"

namespace sluice::cli {
namespace {

struct IngestOptions {
  std::vector<std::string> listen;
  std::vector<std::string> connect;
  std::vector<std::string> sources;
  RedisCliOptions redis;
  std::string max_frame_bytes = "64MiB";
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_peer = kDefaultMaxConnectionsPerPeer;
  std::string tokens;  // --tokens FILE
  std::string idle_timeout = "60s";
  std::string memory_budget = "256MiB";
  std::string stream_maxlen;  // empty: the larger of 1000000 and twice --max-stream-length
  std::uint64_t max_backlog = 20000;
  std::uint64_t max_stream_length = 100000;
  std::string backlog_poll = "100ms";
  std::string retry_for = "30s";
  int wait_replicas = 0;
  std::string wait_timeout = "1s";
  std::string log_level = "info";
  bool quiet = false;
};

net::Endpoint endpoint_or_throw(const std::string& text) {
  auto ep = net::parse_endpoint(text);
  if (!ep) throw std::runtime_error(ep.status().message());
  return *ep;
}

int run_ingest(const IngestOptions& opts) {
  SignalWaiter signals;
  setup_logging(opts.log_level, opts.quiet);
  if (opts.listen.empty() && opts.connect.empty() && opts.sources.empty()) {
    throw std::runtime_error(
        "no source: give --listen HOST:PORT, --connect HOST:PORT or --source KIND:TARGET");
  }
  const auto url = opts.redis.resolve_url();
  const auto layout = opts.redis.layout();
  const auto connection = opts.redis.connection();
  const std::size_t max_frame = parse_bytes(opts.max_frame_bytes);
  if (max_frame == 0 || max_frame > static_cast<std::size_t>(INT32_MAX)) {
    throw std::runtime_error("--max-frame-bytes must be between 1 and 2147483647");
  }
  const auto idle_timeout = parse_duration(opts.idle_timeout);
  if (idle_timeout.count() <= 0) throw std::runtime_error("--idle-timeout must be positive");
  if (opts.max_backlog == 0 || opts.max_stream_length == 0) {
    throw std::runtime_error("--max-backlog and --max-stream-length must be at least 1");
  }
  // The cap follows --max-stream-length unless it was set: only a value the user chose can clash.
  const std::uint64_t stream_maxlen = opts.stream_maxlen.empty()
                                          ? std::max<std::uint64_t>(1000000, opts.max_stream_length * 2)
                                          : value_or_throw(sluice::parse_count(opts.stream_maxlen));
  if (stream_maxlen > 0 && opts.max_stream_length * 2 > stream_maxlen) {
    throw std::runtime_error(fmt::format(
        "--stream-maxlen {} must be at least twice --max-stream-length {}: the cap trims the oldest entries, "
        "processed or not, so it must stay out of reach of the frames still waiting (with room for what "
        "arrives between two backlog polls)",
        stream_maxlen, opts.max_stream_length));
  }
  if (opts.wait_replicas < 0) throw std::runtime_error("--wait-replicas must not be negative");
  redis::BacklogOptions backlog{opts.max_backlog, opts.max_stream_length, parse_duration(opts.backlog_poll)};
  if (backlog.poll.count() <= 0) throw std::runtime_error("--backlog-poll must be positive");
  redis::FrameWriterOptions writer_options{stream_maxlen, parse_duration(opts.retry_for), opts.wait_replicas,
                                           parse_duration(opts.wait_timeout), connection};

  redis::FrameWriter writer(url, layout, writer_options);
  redis::BacklogMonitor monitor(url, layout, backlog, connection);
  if (auto st = monitor.start(); !st) {
    spdlog::error("cannot start: {}", st.to_string());
    return 1;
  }
  if (opts.max_connections_per_peer == 0)
    throw std::runtime_error("--max-connections-per-peer must be at least 1");
  std::shared_ptr<const source::ProducerIdentities> identities;
  if (!opts.tokens.empty()) identities = value_or_throw(source::ProducerIdentities::load(opts.tokens));
  std::vector<std::unique_ptr<source::Source>> sources;
  for (const auto& text : opts.listen) {
    sources.push_back(std::make_unique<source::TcpListenSource>(
        source::TcpListenOptions{endpoint_or_throw(text), max_frame, opts.max_connections, idle_timeout,
                                 opts.max_connections_per_peer, identities}));
  }
  for (const auto& text : opts.connect) {
    source::TcpConnectOptions o;
    o.endpoint = endpoint_or_throw(text);
    o.max_frame_bytes = max_frame;
    sources.push_back(std::make_unique<source::TcpConnectSource>(o));
  }
  for (const auto& text : opts.sources) {
    auto spec = source::parse_source_spec(text);
    if (!spec) throw std::runtime_error(spec.status().message());
    source::SourceDefaults defaults{max_frame, opts.max_connections, idle_timeout};
    defaults.max_connections_per_peer = opts.max_connections_per_peer;
    defaults.identities = identities;
    auto made = source::make_source(*spec, defaults);
    if (!made) throw std::runtime_error(made.status().message());
    sources.push_back(std::move(*made));
  }
  engine::MemoryBudget budget(parse_bytes(opts.memory_budget));
  std::vector<std::unique_ptr<redis::RedisIngestSink>> sinks;
  std::size_t started = 0;
  Status start_status;
  for (auto& source : sources) {
    sinks.push_back(std::make_unique<redis::RedisIngestSink>(source->name(), writer, monitor, budget));
    sinks.back()->set_source(source.get());
    if (auto st = source->start(*sinks.back()); !st) {
      start_status = Status(st.code(), fmt::format("{}: {}", source->name(), st.message()));
      break;
    }
    ++started;
  }
  if (start_status) {
    spdlog::info(
        "ingest: frames go to {} in {} partitions ({}:{{0..{}}}); backlog bound {} frames, stream bound {} "
        "entries, "
        "cap {}",
        url.to_string(), layout.partitions, layout.frames_prefix, layout.partitions - 1, backlog.max_backlog,
        backlog.max_stream_length, stream_maxlen);
    spdlog::info("ingesting; Ctrl-C or SIGTERM stops");
    auto last_log = std::chrono::steady_clock::now();
    std::uint64_t last_frames = 0;
    while (signals.wait_for(std::chrono::milliseconds(1000)) == 0) {
      const auto now = std::chrono::steady_clock::now();
      if (opts.quiet || now - last_log < std::chrono::seconds(10)) continue;
      const auto frames = writer.frames_written();
      if (frames != last_frames) {
        const auto b = monitor.current();
        const double secs = std::chrono::duration<double>(now - last_log).count();
        spdlog::info("progress: {} frames to Redis ({:.0f} frames/s); {} frames wait in Redis (bound {})",
                     frames, static_cast<double>(frames - last_frames) / secs, b.waiting,
                     backlog.max_backlog);
      }
      last_frames = frames;
      last_log = now;
    }
    spdlog::info("stopping: no new frames");
  } else {
    spdlog::error("cannot start: {}", start_status.to_string());
  }
  // Waiters for room and writers in retry give up; writes in progress complete.
  budget.close();
  monitor.stop();
  for (std::size_t i = 0; i < started; ++i) sources[i]->stop();
  for (auto& sink : sinks) sink->stop();
  writer.close();
  spdlog::info("stopped: {} frames ({:.1f} MB) written to Redis", writer.frames_written(),
               static_cast<double>(writer.bytes_written()) / 1e6);
  return start_status ? 0 : 1;
}

}  // namespace

void register_ingest(CLI::App& app) {
  auto opts = std::make_shared<IngestOptions>();
  auto* cmd = app.add_subcommand("ingest",
                                 "Accept frames from producers (the sources of serve) and add them to Redis "
                                 "streams for `sluice worker`");
  cmd->add_option(
      "--listen", opts->listen,
      "tcp-listen source: accept producers on HOST:PORT; each connection is one stream (repeatable)");
  cmd->add_option("--connect", opts->connect,
                  "tcp-connect source: dial a producer at HOST:PORT; reconnects with backoff (repeatable)");
  cmd->add_option(
      "--source", opts->sources,
      "A source as KIND:TARGET?key=value&... (plugin:, dir:, tcp-listen:, tcp-connect:), as for serve "
      "(repeatable)");
  opts->redis.add_to(*cmd);
  cmd->add_option("--stream-maxlen", opts->stream_maxlen,
                  "Safety cap per partition stream (XADD MAXLEN ~, entries; 0 = none; default: the larger of "
                  "1000000 and twice --max-stream-length). Not the flow control: --max-stream-length is, and "
                  "must be at most half of it");
  cmd->add_option(
         "--max-backlog", opts->max_backlog,
         "Stop reading sockets while more frames than this wait in Redis, over all partitions (per "
         "partition: the slowest consumer group's lag + pending, or the stream length before any group "
         "exists)")
      ->capture_default_str();
  cmd->add_option(
         "--max-stream-length", opts->max_stream_length,
         "Stop reading sockets while a partition stream holds more entries than this (XLEN; workers trim "
         "processed entries)")
      ->capture_default_str();
  cmd->add_option("--backlog-poll", opts->backlog_poll,
                  "How often the backlog is read from Redis; ms, s or min")
      ->capture_default_str();
  cmd->add_option(
         "--retry-for", opts->retry_for,
         "While Redis is unreachable, keep retrying a write this long (sockets are not read meanwhile); "
         "then the producer's connection is closed, and a producer with acks re-sends")
      ->capture_default_str();
  cmd->add_option(
         "--wait-replicas", opts->wait_replicas,
         "Acknowledge frames only once this many Redis replicas have them (WAIT); 0 = the primary alone")
      ->capture_default_str();
  cmd->add_option("--wait-timeout", opts->wait_timeout, "With --wait-replicas: how long WAIT may take")
      ->capture_default_str();
  cmd->add_option(
         "--max-frame-bytes", opts->max_frame_bytes,
         "Largest payload accepted (B, KiB, MiB, GiB, KB, MB, GB); a longer length closes its connection")
      ->capture_default_str();
  cmd->add_option("--max-connections", opts->max_connections,
                  "Most concurrent producer connections per listener")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-peer", opts->max_connections_per_peer,
                  "Most concurrent producer connections per listener from one IP address")
      ->capture_default_str();
  cmd->add_option("--tokens", opts->tokens,
                  "Producer identities for --listen, as for serve: a YAML file of tokens, their stream ids "
                  "and frame-name prefixes");
  cmd->add_option("--idle-timeout", opts->idle_timeout,
                  "Close a connection that completes no frame for this long; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--memory-budget", opts->memory_budget,
                  "Most bytes of frames held at once, whole or partial, on their way to Redis (KiB/MiB/GiB); "
                  "past it, sources stop reading their sockets")
      ->capture_default_str();
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", opts->quiet, "Log errors only");
  cmd->callback([opts] {
    if (const int rc = run_ingest(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
