// sluice worker: process the frames of the Redis partition streams in a consumer group.
#include <unistd.h>

#include <future>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/cli_support.h"
#include "cli/redis_options.h"
#include "cli/serve_loop.h"
#include "engine/resident_budget.h"
#include "engine/streaming_context.h"
#include "http/http_server.h"
#include "monitor/batch_history.h"
#include "monitor/pipeline_status.h"
#include "monitor/result_observer.h"
#include "observe/process_memory.h"
#include "redis/redis_result_sink.h"
#include "redis/redis_stream_source.h"

namespace sluice::cli {
namespace {

struct WorkerOptions {
  RedisCliOptions redis;
  std::string group = "sluice";
  std::string consumer;  // empty: <hostname>-<pid>
  std::string group_start = "0";
  std::size_t count = 64;
  std::size_t max_in_flight = 4096;
  std::string block = "1s";
  std::string claim_idle = "30s";
  std::string claim_interval = "5s";
  std::size_t claim_count = 256;
  int max_deliveries = 3;
  int isolate_after = 2;
  std::string heartbeat;  // empty: claim idle / 3
  std::string trim_interval = "1s";
  std::uint64_t results_maxlen = 1000000;
  std::uint64_t dead_maxlen = 100000;
  std::string results_ttl = "0";
  std::string dead_ttl = "0";
  std::string retry_for = "30s";
  std::string crash_on_name;
  std::string stop_timeout = "30s";
  std::string log_level = "info";
  bool quiet = false;
  std::string http;
  std::string http_allowed_hosts;
  ModelOptions model;
  EngineOptions engine;
};

std::string default_consumer() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "worker");
  return fmt::format("{}-{}", host, getpid());
}

int run_worker(const WorkerOptions& opts) {
  SignalWaiter signals;
  setup_logging(opts.log_level, opts.quiet);
  std::shared_ptr<StatusLineSink> status_line;
  if (!opts.quiet && isatty(STDERR_FILENO)) status_line = install_status_line_sink();

  redis::StreamSourceOptions so;
  so.url = opts.redis.resolve_url();
  so.layout = opts.redis.layout();
  so.connection = opts.redis.connection();
  so.group = opts.group;
  so.consumer = opts.consumer.empty() ? default_consumer() : opts.consumer;
  if (opts.group.empty()) throw std::runtime_error("--group must not be empty");
  if (opts.group_start != "0" && opts.group_start != "$")
    throw std::runtime_error("--group-start must be 0 or $");
  so.group_start = opts.group_start;
  so.read_count = opts.count;
  so.max_in_flight = opts.max_in_flight;
  if (so.max_in_flight < 1) throw std::runtime_error("--max-in-flight must be at least 1");
  so.block = parse_duration(opts.block);
  so.claim_interval = parse_duration(opts.claim_interval);
  so.trim_interval = parse_duration(opts.trim_interval);
  so.reclaim = redis::ReclaimOptions{
      so.layout,        opts.group,          so.consumer,        parse_duration(opts.claim_idle),
      opts.claim_count, opts.max_deliveries, opts.isolate_after, opts.dead_maxlen};
  so.results_ttl = parse_duration(opts.results_ttl);
  so.dead_ttl = parse_duration(opts.dead_ttl);
  if ((so.results_ttl.count() > 0 || so.dead_ttl.count() > 0) && so.trim_interval.count() == 0) {
    throw std::runtime_error("--results-ttl and --dead-ttl need a --trim-interval");
  }
  so.heartbeat = opts.heartbeat.empty() ? so.reclaim.claim_idle / 3 : parse_duration(opts.heartbeat);
  if (so.read_count < 1 || so.reclaim.claim_count < 1)
    throw std::runtime_error("--count and --claim-count must be at least 1");
  if (so.block.count() < 1 || so.claim_interval.count() < 1) {
    throw std::runtime_error("--block and --claim-interval must be positive");
  }
  if (so.reclaim.claim_idle.count() < 10) throw std::runtime_error("--claim-idle must be at least 10ms");
  if (so.heartbeat.count() < 1 || so.heartbeat * 2 > so.reclaim.claim_idle) {
    throw std::runtime_error(
        fmt::format("--heartbeat ({} ms) must be positive and at most half of --claim-idle ({} ms), or a "
                    "live worker's frames "
                    "would be reclaimed",
                    so.heartbeat.count(), so.reclaim.claim_idle.count()));
  }
  if (opts.max_deliveries < 1 || opts.isolate_after < 1) {
    throw std::runtime_error("--max-deliveries and --isolate-after must be at least 1");
  }
  redis::ResultSinkOptions sink_options{
      so.layout,          opts.group,   so.consumer, opts.results_maxlen, parse_duration(opts.retry_for),
      opts.crash_on_name, so.connection};
  const auto config = opts.engine.resolve();
  const auto stop_timeout = parse_duration(opts.stop_timeout);
  const auto bundle = opts.model.load();

  auto source = std::make_unique<redis::RedisStreamSource>(so);
  auto& src = *source;
  redis::RedisResultSink results(so.url, sink_options, src.in_flight());
  monitor::ResultObserver observed;
  monitor::BatchHistory batches;
  engine::StreamingContext ctx(config, bundle, results);
  ctx.add_listener(&batches);
  ctx.add_result_listener(&observed);
  ctx.add_source(std::move(source));
  if (auto st = ctx.load(); !st) {
    spdlog::error("cannot start: {}", st.to_string());
    return 1;
  }
  const auto data_budget =
      engine::data_budget_within(config.memory_budget, observe::resident_memory_bytes().value_or(0));
  if (!data_budget) throw std::runtime_error(with_option_names(data_budget.status().message()));
  ctx.set_memory_budget(static_cast<std::size_t>(*data_budget));
  if (auto st = ctx.start(); !st) {
    spdlog::error("cannot start: {}", st.to_string());
    return 1;
  }
  monitor::PipelineView view{ctx, batches, observed, {}};
  ServeLoopOptions loop;
  loop.http = opts.http;
  loop.http_allowed_hosts = opts.http_allowed_hosts;
  loop.quiet = opts.quiet;
  loop.status_line = status_line;
  loop.stop_timeout = stop_timeout;
  loop.ready_message = fmt::format(
      "worker {}: results go to {}:{{0..{}}}; Ctrl-C or SIGTERM stops after the in-flight batches",
      so.consumer, so.layout.results_prefix, so.layout.partitions - 1);
  // Nothing is lost: the frames without a result are still pending in Redis.
  loop.unfinished = [](std::uint64_t in_flight) {
    return fmt::format("{} frames have no result yet; they stay pending in Redis for another worker",
                       in_flight);
  };
  const int rc = serve_until_signalled(
      view, [&](Clock::time_point deadline) { return ctx.stop(deadline); }, signals, loop);
  if (rc != 0) return rc;
  spdlog::info("worker {}: {} results written to Redis", so.consumer, results.results_written());
  return 0;
}

}  // namespace

void register_worker(CLI::App& app) {
  auto opts = std::make_shared<WorkerOptions>();
  auto* cmd = app.add_subcommand("worker",
                                 "Process frames from Redis streams in a consumer group (written by `sluice "
                                 "ingest`); results go to Redis");
  opts->redis.add_to(*cmd);
  cmd->add_option("--group", opts->group, "Consumer group; workers of one group share the frames")
      ->capture_default_str();
  cmd->add_option(
         "--consumer", opts->consumer,
         "This worker's name in the group, unique per live worker (default: <hostname>-<pid>); a stable "
         "name (a pod name) lets a restarted worker be recognised")
      ->capture_default_str();
  cmd->add_option(
         "--group-start", opts->group_start,
         "Where a group created by this worker starts: 0 (every frame in the streams) or $ (new frames)")
      ->capture_default_str();
  cmd->add_option("--count", opts->count, "XREADGROUP COUNT: most frames read per partition and read")
      ->capture_default_str();
  cmd->add_option(
         "--max-in-flight", opts->max_in_flight,
         "Most frames this worker holds (read, not done); reading pauses at it, so the other workers get "
         "the rest. Give more than a batch interval's worth")
      ->capture_default_str();
  cmd->add_option("--block", opts->block,
                  "XREADGROUP BLOCK: longest wait for new frames per read; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--claim-idle", opts->claim_idle,
                  "A frame pending this long without a heartbeat belongs to a dead worker and is reclaimed "
                  "(XAUTOCLAIM min-idle-time); ms, s or min")
      ->capture_default_str();
  cmd->add_option("--claim-interval", opts->claim_interval,
                  "How often to look for frames to reclaim; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--claim-count", opts->claim_count,
                  "XAUTOCLAIM COUNT: most frames reclaimed per partition and round")
      ->capture_default_str();
  cmd->add_option(
      "--heartbeat", opts->heartbeat,
      "How often this worker resets the idle time of the frames it holds (XCLAIM JUSTID); at most half "
      "of --claim-idle (default: a third of it)");
  cmd->add_option(
         "--max-deliveries", opts->max_deliveries,
         "A frame is processed at most this many times; when its worker dies each time (a poison frame), "
         "it then goes to the dead-letter stream with the reason, and is acknowledged")
      ->capture_default_str();
  cmd->add_option(
         "--isolate-after", opts->isolate_after,
         "A reclaimed frame that already failed this many deliveries is processed alone, one at a time, so "
         "a poison frame stops taking other frames down with it")
      ->capture_default_str();
  cmd->add_option(
         "--trim-interval", opts->trim_interval,
         "How often to delete frames every group has processed (XTRIM MINID); 0 = never; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--results-maxlen", opts->results_maxlen,
                  "Cap per result stream (XADD MAXLEN ~, entries; 0 = none): the results' retention")
      ->capture_default_str();
  cmd->add_option("--dead-maxlen", opts->dead_maxlen, "Cap per dead-letter stream (XADD MAXLEN ~; 0 = none)")
      ->capture_default_str();
  cmd->add_option(
         "--results-ttl", opts->results_ttl,
         "Delete results older than this (XTRIM MINID by time, every --trim-interval); 0 = keep them up to "
         "--results-maxlen; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--dead-ttl", opts->dead_ttl, "Delete dead letters older than this; 0 = keep; ms, s or min")
      ->capture_default_str();
  cmd->add_option(
         "--retry-for", opts->retry_for,
         "While Redis is unreachable, keep retrying a result write this long; the frames stay pending")
      ->capture_default_str();
  cmd->add_option("--crash-on-name", opts->crash_on_name,
                  "Testing: abort the worker when a frame with this name is processed (a poison frame)");
  cmd->add_option("--stop-timeout", opts->stop_timeout,
                  "On Ctrl-C/SIGTERM, how long in-flight batches may take; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", opts->quiet, "Log errors only, and no progress");
  cmd->add_option("--http", opts->http,
                  "Serve the dashboard and /metrics on HOST:PORT (a bare PORT binds 127.0.0.1)");
  cmd->add_option("--http-allowed-hosts", opts->http_allowed_hosts,
                  "Host names (comma-separated) the --http endpoint answers besides its bound address, "
                  "localhost, 127.0.0.1 and [::1]; other Host headers get 403 (against DNS rebinding)")
      ->capture_default_str();
  opts->model.add_to(*cmd, /*model_required=*/true);
  opts->engine.add_to(*cmd);
  cmd->callback([opts] {
    if (const int rc = run_worker(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
