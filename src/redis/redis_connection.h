// RedisConnection: one hiredis connection (RAII), with reconnects and Redis Cluster redirects.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "redis/redis_command.h"
#include "redis/redis_reply.h"
#include "redis/redis_url.h"
#include "sluice/status.h"
#include "util/mutex.h"

namespace sluice::redis {

struct ConnectionOptions {
  std::chrono::milliseconds connect_timeout{2000};
  /// Socket read/write timeout; a blocking command (XREADGROUP BLOCK) must return within it.
  std::chrono::milliseconds io_timeout{10000};
};

/// Not thread-safe: one thread uses a connection at a time (interrupt() excepted). It connects
/// lazily and, after a connection error, reconnects on the next call (callers decide about
/// backoff). A "MOVED slot host:port" reply (Redis Cluster) makes it connect to that node and
/// send the command(s) again, so every command or pipeline must touch keys of one hash slot.
class RedisConnection {
 public:
  RedisConnection(RedisUrl url, ConnectionOptions options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  /// Sends one command and returns its reply. A Redis error reply is a reply (check it with
  /// reply_status); the Status is an error (kIo) when the connection failed or Redis answered
  /// "not now" (LOADING after a restart, TRYAGAIN, CLUSTERDOWN, MASTERDOWN, BUSY, ASK: nothing was
  /// executed, so the caller may retry), or kClosed after interrupt().
  Result<RedisReply> run(RedisCommand& command);
  /// Sends every command in one write and reads their replies in order (pipelining).
  Result<std::vector<RedisReply>> pipeline(std::span<RedisCommand> commands);

  /// Connects now if not connected (AUTH and SELECT included).
  Status connect();
  /// Closes the connection; the next call reconnects.
  void close();
  /// From any thread: breaks a command blocked in this connection (XREADGROUP BLOCK) and makes
  /// every later call fail with kClosed. Used to stop reader threads at once.
  void interrupt();
  bool connected() const { return ctx_ != nullptr; }
  /// The node this connection talks to now (it changes after a MOVED redirect).
  std::string endpoint() const;

 private:
  struct ContextFree {
    void operator()(redisContext* c) const {
      if (c != nullptr) redisFree(c);
    }
  };
  Status connect_to(const std::string& host, int port);
  Result<std::vector<RedisReply>> send_and_read(std::span<RedisCommand> commands);
  Status io_error(std::string_view what);

  RedisUrl url_;
  ConnectionOptions options_;
  std::string host_;  // the node in use: the URL's, or a MOVED target
  int port_ = 0;
  std::unique_ptr<redisContext, ContextFree> ctx_;
  Mutex fd_mu_;  // interrupt() comes from another thread
  int fd_ GUARDED_BY(fd_mu_) = -1;
  bool interrupted_ GUARDED_BY(fd_mu_) = false;
};

}  // namespace sluice::redis
