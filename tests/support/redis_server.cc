#include "support/redis_server.h"

#include <signal.h>

#include <thread>

#include <fmt/format.h>

#include "redis/redis_connection.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {

RedisServer::RedisServer(std::string dir, bool aof) : dir_(std::move(dir)), port_(free_port()), aof_(aof) {
  start();
}

void RedisServer::start() {
  process_.emplace(ChildProcess::spawn(
      {kRedisServer, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_, "--save", "",
       "--appendonly", aof_ ? "yes" : "no", "--appendfsync", "always"},
      log(starts_++), ""));
  ready_ = wait_until_listening(port_, std::chrono::seconds(20)) && answers_ping(std::chrono::seconds(20));
}

void RedisServer::kill9() {
  process_->signal(SIGKILL);
  process_->wait(std::chrono::seconds(10));
}

std::string RedisServer::url() const {
  return fmt::format("redis://127.0.0.1:{}", port_);
}

std::string RedisServer::log(int n) const {
  return fmt::format("{}/redis-{}.log", dir_, n);
}

bool RedisServer::answers_ping(std::chrono::milliseconds timeout) const {
  redis::RedisConnection conn(*redis::parse_redis_url(url()), {});
  return eventually(
      [&] {
        redis::RedisCommand ping("PING");
        auto r = conn.run(ping);
        return r && redis::reply_str(**r) == "PONG";
      },
      timeout, std::chrono::milliseconds(50));
}

std::uint64_t RedisServer::total_length(const std::string& prefix, int partitions) const {
  redis::RedisConnection conn(*redis::parse_redis_url(url()), {});
  std::uint64_t total = 0;
  const bool complete = eventually(
      [&] {
        total = 0;
        for (int p = 0; p < partitions; ++p) {
          redis::RedisCommand xlen("XLEN");
          xlen.add(fmt::format("{}:{{{}}}", prefix, p));
          auto reply = conn.run(xlen);
          if (!reply || (*reply)->type != REDIS_REPLY_INTEGER) return false;
          total += static_cast<std::uint64_t>((*reply)->integer);
        }
        return true;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50));
  return complete ? total : 0;
}

}  // namespace sluice::test
