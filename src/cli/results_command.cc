// sluice results: tail the results (or dead letters) in Redis as JSON lines on stdout.
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/cli_support.h"
#include "cli/redis_options.h"
#include "redis/results_reader.h"

namespace sluice::cli {
namespace {

struct ResultsOptions {
  RedisCliOptions redis;
  bool dead_letters = false;
  std::string from = "0";
  std::uint64_t wait = 0;
  std::string timeout = "0";
  bool meta = false;
  bool distinct = false;
  std::size_t count = 1000;
  std::string poll = "100ms";
  std::string log_level = "warn";
};

int run_results(const ResultsOptions& opts) {
  SignalWaiter signals;
  setup_logging(opts.log_level, false);
  if (opts.from != "0" && opts.from != "$")
    throw std::runtime_error("--from must be 0 (everything kept) or $ (new)");
  const auto timeout = parse_duration(opts.timeout);
  const auto poll = parse_duration(opts.poll);
  if (poll.count() <= 0) throw std::runtime_error("--poll must be positive");
  if (opts.count < 1) throw std::runtime_error("--count must be at least 1");
  redis::ResultsReader reader(opts.redis.resolve_url(), opts.redis.layout(),
                              {opts.dead_letters, opts.from, opts.count}, opts.redis.connection());
  if (auto st = reader.start(); !st) throw std::runtime_error(st.to_string());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
  std::uint64_t printed = 0;
  bool failing = false;
  while (true) {
    auto lines = reader.poll(opts.meta);
    if (!lines) {
      // Tailing survives a Redis restart: report once, keep trying.
      if (!failing) spdlog::warn("{}; retrying", lines.status().to_string());
      failing = true;
    } else {
      failing = false;
      std::string out;
      for (const auto& line : *lines) {
        if (opts.distinct && !seen.insert({line.stream, line.seq}).second) continue;
        out.append(line.json).push_back('\n');
        ++printed;
        if (opts.wait > 0 && printed >= opts.wait) break;
      }
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
      if (opts.wait > 0 && printed >= opts.wait) return 0;
      if (!lines->empty()) continue;  // more may be there: read again at once
    }
    if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline) {
      if (opts.wait == 0) return 0;
      std::fprintf(stderr, "sluice results: %llu of %llu %s within %lld ms\n",
                   static_cast<unsigned long long>(printed), static_cast<unsigned long long>(opts.wait),
                   opts.dead_letters ? "dead letters" : "results", static_cast<long long>(timeout.count()));
      return 1;
    }
    if (signals.wait_for(poll) != 0) return 0;
  }
}

}  // namespace

void register_results(CLI::App& app) {
  auto opts = std::make_shared<ResultsOptions>();
  auto* cmd = app.add_subcommand(
      "results",
      "Print the results the workers wrote to Redis, as JSON lines on stdout, and follow new ones");
  opts->redis.add_to(*cmd);
  cmd->add_flag(
      "--dead-letters", opts->dead_letters,
      "Print the dead-letter streams instead: frames given up after --max-deliveries, with the reason");
  cmd->add_option("--from", opts->from,
                  "0: every result the streams still hold, then new ones; $: new ones only")
      ->capture_default_str();
  cmd->add_option("--wait", opts->wait, "Exit 0 after this many lines (0 = follow until Ctrl-C)")
      ->capture_default_str();
  cmd->add_option(
         "--timeout", opts->timeout,
         "Stop after this long: exit 1 if --wait was given and not reached, else 0; 0 = no limit; ms, s or "
         "min")
      ->capture_default_str();
  cmd->add_flag(
      "--distinct", opts->distinct,
      "Print one line per (stream, seq): the first; later duplicates (re-processed frames) are skipped");
  cmd->add_flag(
      "--meta", opts->meta,
      "Add where each result comes from: worker, entry (frame entry id), partition, deliveries, result_id");
  cmd->add_option("--count", opts->count, "XREAD COUNT: most entries read per partition and read")
      ->capture_default_str();
  cmd->add_option("--poll", opts->poll, "How often to look for new entries when there are none; ms, s or min")
      ->capture_default_str();
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cmd->callback([opts] {
    if (const int rc = run_results(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sluice::cli
