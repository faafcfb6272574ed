// ResultsReader: reads the results (or dead-letter) streams of every partition, in order.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis/redis_connection.h"
#include "redis/stream_layout.h"

namespace sluice::redis {

struct ResultsReaderOptions {
  bool dead_letters = false;  // read the dead-letter streams instead of the results
  /// "0": everything the streams still hold; "$": only entries added after start().
  std::string from = "0";
  std::size_t count = 1000;  // XREAD COUNT per partition and poll
};

/// One stored result or dead letter, as a JSON line (no newline).
struct StoredLine {
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
  /// Results: the worker's line; with `meta`, plus "worker", "entry", "partition" and
  /// "deliveries". Dead letters: stream, seq, name, entry, partition, deliveries, reason and
  /// payload_bytes.
  std::string json;
};

/// Not thread-safe. Each partition has its own connection and position; a poll reads every
/// partition once without blocking (plain XREAD on one key, so it works on Redis Cluster).
class ResultsReader {
 public:
  ResultsReader(const RedisUrl& url, StreamLayout layout, ResultsReaderOptions options,
                ConnectionOptions connection);

  /// Resolves "$" to each partition's last entry.
  Status start();
  /// The entries added since the last poll (up to `count` per partition), partition by partition.
  Result<std::vector<StoredLine>> poll(bool meta);

 private:
  std::string key(int p) const;

  StreamLayout layout_;
  ResultsReaderOptions options_;
  std::vector<std::unique_ptr<RedisConnection>> conns_;
  std::vector<std::string> positions_;  // per partition: the last id read
};

}  // namespace sluice::redis
