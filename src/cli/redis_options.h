// The Redis options shared by ingest, worker and results: where Redis is, and the stream layout.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "redis/redis_connection.h"
#include "redis/stream_layout.h"

namespace sluice::cli {

struct RedisCliOptions {
  std::string url = "redis://127.0.0.1:6379";
  int partitions = 4;
  std::string frames_prefix = "sluice:frames";
  std::string results_prefix = "sluice:results";
  std::string dead_prefix = "sluice:dead";
  std::string connect_timeout = "2s";
  std::string io_timeout = "10s";

  void add_to(CLI::App& cmd);
  redis::RedisUrl resolve_url() const;  // throws std::runtime_error with the reason
  redis::StreamLayout layout() const;   // throws std::runtime_error with the reason
  redis::ConnectionOptions connection() const;
};

void register_ingest(CLI::App& app);
void register_worker(CLI::App& app);
void register_results(CLI::App& app);

}  // namespace sluice::cli
