#include "cli/redis_options.h"

#include <stdexcept>

#include "cli/cli_support.h"

namespace sluice::cli {

void RedisCliOptions::add_to(CLI::App& cmd) {
  cmd.add_option("--redis", url, "Redis server as redis://[[user]:password@]host[:port][/db]")
      ->capture_default_str();
  cmd.add_option(
         "--partitions", partitions,
         "Partition streams per prefix, {prefix}:{0} .. {prefix}:{N-1}; every ingest node, worker and "
         "results reader must use the same number")
      ->capture_default_str();
  cmd.add_option("--frames-prefix", frames_prefix,
                 "Prefix of the frame streams (and of the stream-id counter key)")
      ->capture_default_str();
  cmd.add_option("--results-prefix", results_prefix, "Prefix of the result streams")->capture_default_str();
  cmd.add_option("--dead-prefix", dead_prefix, "Prefix of the dead-letter streams")->capture_default_str();
  cmd.add_option("--redis-connect-timeout", connect_timeout, "Timeout to connect to Redis; ms, s or min")
      ->capture_default_str();
  cmd.add_option("--redis-io-timeout", io_timeout,
                 "A Redis command that gets no reply for this long counts as a lost connection; ms, s or min")
      ->capture_default_str();
}

redis::RedisUrl RedisCliOptions::resolve_url() const {
  auto parsed = redis::parse_redis_url(url);
  if (!parsed) throw std::runtime_error("--redis: " + parsed.status().message());
  return *parsed;
}

redis::StreamLayout RedisCliOptions::layout() const {
  redis::StreamLayout layout{frames_prefix, results_prefix, dead_prefix, partitions};
  if (auto st = layout.validate(); !st) throw std::runtime_error(st.message());
  return layout;
}

redis::ConnectionOptions RedisCliOptions::connection() const {
  redis::ConnectionOptions o{parse_duration(connect_timeout), parse_duration(io_timeout)};
  if (o.connect_timeout.count() <= 0 || o.io_timeout.count() <= 0) {
    throw std::runtime_error("--redis-connect-timeout and --redis-io-timeout must be positive");
  }
  return o;
}

}  // namespace sluice::cli
