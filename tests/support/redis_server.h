// RedisServer: a redis-server of a test's own, on a free loopback port, in the test's temporary
// directory. It can be killed and started again on the same port and directory (its AOF, when on,
// is kept). Stopped with SIGKILL when it goes out of scope.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "support/child_process.h"

namespace sluice::test {

class RedisServer {
 public:
  /// Starts it (see ready()). `aof`: appendonly with appendfsync always.
  RedisServer(std::string dir, bool aof = false);

  /// (Re)starts it on the same port and directory, and waits until it answers PING.
  void start();
  void kill9();
  /// True once it answers PING with PONG (Redis accepts connections while it loads its AOF, and
  /// answers LOADING until it is done).
  bool ready() const { return ready_; }
  std::string url() const;
  /// Its log for start number `n` (0 is the first).
  std::string log(int n = 0) const;
  /// The sum over partitions 0..partitions-1 of XLEN "<prefix>:{p}", taken only when every
  /// partition answered (a partition still loading would make a partial count): repeated for at
  /// most 10 s, then 0.
  std::uint64_t total_length(const std::string& prefix, int partitions) const;

 private:
  bool answers_ping(std::chrono::milliseconds timeout) const;

  std::string dir_;
  std::uint16_t port_;
  bool aof_;
  int starts_ = 0;
  bool ready_ = false;
  std::optional<ChildProcess> process_;
};

}  // namespace sluice::test
