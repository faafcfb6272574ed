#include "redis/redis_connection.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::redis {
namespace {
timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

// "MOVED 3999 127.0.0.1:6381" -> host and port.
bool parse_moved(std::string_view error, std::string& host, int& port) {
  if (!error.starts_with("MOVED ")) return false;
  const auto space = error.find(' ', 6);
  if (space == std::string_view::npos) return false;
  const auto target = error.substr(space + 1);
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos) return false;
  int p = 0;
  const auto digits = target.substr(colon + 1);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), p).ec != std::errc()) return false;
  host = std::string(target.substr(0, colon));
  port = p;
  return true;
}

constexpr int kMaxRedirects = 5;

// Errors that say "not now" rather than "no": the server is loading its AOF/RDB after a restart,
// a cluster slot is migrating or the cluster is reconfiguring, a script is running. The commands
// were not executed, so callers may retry them like a lost connection.
bool is_transient(std::string_view error) {
  for (std::string_view prefix : {"LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "BUSY ", "ASK "}) {
    if (error.starts_with(prefix)) return true;
  }
  return false;
}
}  // namespace

std::optional<long long> reply_integer(const redisReply& r) {
  if (r.type == REDIS_REPLY_INTEGER) return r.integer;
  if (r.type == REDIS_REPLY_STRING || r.type == REDIS_REPLY_STATUS) {
    long long v = 0;
    const auto [end, ec] = std::from_chars(r.str, r.str + r.len, v);
    if (ec == std::errc() && end == r.str + r.len) return v;
  }
  return std::nullopt;
}

Status reply_status(const redisReply& r, std::string_view what) {
  if (r.type != REDIS_REPLY_ERROR) return Status::ok();
  return Status(Code::kIo, fmt::format("{}: Redis replied: {}", what, reply_str(r)));
}

const redisReply* reply_field(const redisReply& r, std::string_view key) {
  if (r.type != REDIS_REPLY_ARRAY) return nullptr;
  for (std::size_t i = 0; i + 1 < r.elements; i += 2) {
    if (reply_str(*r.element[i]) == key) return r.element[i + 1];
  }
  return nullptr;
}

RedisConnection::RedisConnection(RedisUrl url, ConnectionOptions options)
    : url_(std::move(url)), options_(options), host_(url_.host), port_(url_.port) {}

RedisConnection::~RedisConnection() {
  close();
}

std::string RedisConnection::endpoint() const {
  return fmt::format("{}:{}", host_, port_);
}

void RedisConnection::close() {
  {
    MutexLock lock(fd_mu_);
    fd_ = -1;
  }
  ctx_.reset();
}

void RedisConnection::interrupt() {
  MutexLock lock(fd_mu_);
  interrupted_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Status RedisConnection::io_error(std::string_view what) {
  const std::string why = ctx_ && ctx_->err ? std::string(ctx_->errstr) : std::string("connection lost");
  close();
  {
    MutexLock lock(fd_mu_);
    if (interrupted_) return Status(Code::kClosed, "the Redis connection was interrupted (stopping)");
  }
  return Status(Code::kIo, fmt::format("redis {}: {}: {}", endpoint(), what, why));
}

Status RedisConnection::connect() {
  if (ctx_) return Status::ok();
  return connect_to(host_, port_);
}

Status RedisConnection::connect_to(const std::string& host, int port) {
  close();
  {
    MutexLock lock(fd_mu_);
    if (interrupted_) return Status(Code::kClosed, "the Redis connection was interrupted (stopping)");
  }
  host_ = host;
  port_ = port;
  std::unique_ptr<redisContext, ContextFree> ctx(
      redisConnectWithTimeout(host.c_str(), port, to_timeval(options_.connect_timeout)));
  if (!ctx) return Status(Code::kIo, fmt::format("redis {}: cannot allocate a connection", endpoint()));
  if (ctx->err)
    return Status(Code::kIo, fmt::format("redis {}: cannot connect: {}", endpoint(), ctx->errstr));
  if (options_.io_timeout.count() > 0) redisSetTimeout(ctx.get(), to_timeval(options_.io_timeout));
  redisEnableKeepAlive(ctx.get());
  {
    MutexLock lock(fd_mu_);
    if (interrupted_) return Status(Code::kClosed, "the Redis connection was interrupted (stopping)");
    fd_ = ctx->fd;
  }
  ctx_ = std::move(ctx);
  std::vector<RedisCommand> setup;
  if (!url_.password.empty()) {
    setup.emplace_back("AUTH");
    if (!url_.username.empty()) setup.back().add(url_.username);
    setup.back().add(url_.password);
  }
  if (url_.db != 0) setup.emplace_back("SELECT").add(static_cast<std::uint64_t>(url_.db));
  if (!setup.empty()) {
    auto replies = send_and_read(setup);
    if (!replies) return replies.status();
    for (const auto& r : *replies) {
      if (auto st = reply_status(*r, "connection set-up (AUTH/SELECT)"); !st) {
        close();
        return st;
      }
    }
  }
  return Status::ok();
}

Result<std::vector<RedisReply>> RedisConnection::send_and_read(std::span<RedisCommand> commands) {
  for (auto& c : commands) {
    if (redisAppendCommandArgv(ctx_.get(), c.argc(), c.argv(), c.argvlen()) != REDIS_OK) {
      return io_error(c.describe());
    }
  }
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (auto& c : commands) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) return io_error(c.describe());
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

Result<std::vector<RedisReply>> RedisConnection::pipeline(std::span<RedisCommand> commands) {
  if (commands.empty()) return std::vector<RedisReply>{};
  for (int redirect = 0;; ++redirect) {
    if (auto st = connect(); !st) return st;
    auto replies = send_and_read(commands);
    if (!replies) return replies;
    // A MOVED reply means the whole pipeline went to the wrong node (it touches one slot), and the
    // commands were refused there (inside MULTI, the EXEC that follows aborts): send it again.
    std::string host;
    int port = 0;
    bool moved = false;
    for (std::size_t i = 0; i < replies->size() && !moved; ++i) {
      const auto& r = *(*replies)[i];
      moved = r.type == REDIS_REPLY_ERROR && parse_moved(reply_str(r), host, port);
    }
    for (const auto& r : *replies) {
      if (r->type == REDIS_REPLY_ERROR && is_transient(reply_str(*r))) {
        return Status(Code::kIo, fmt::format("redis {}: {}: {} (transient; retry)", endpoint(),
                                             commands.front().describe(), reply_str(*r)));
      }
    }
    if (moved && redirect < kMaxRedirects) {
      spdlog::info("redis: {} moved to {}:{} (Redis Cluster redirect)", commands.front().describe(), host,
                   port);
      if (auto st = connect_to(host, port); !st) return st;
      continue;
    }
    return replies;
  }
}

Result<RedisReply> RedisConnection::run(RedisCommand& command) {
  auto replies = pipeline(std::span<RedisCommand>(&command, 1));
  if (!replies) return replies.status();
  return std::move(replies->front());
}

}  // namespace sluice::redis
