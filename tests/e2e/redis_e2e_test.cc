// Scale-out on Redis Streams end to end: real redis-server, real `sluice ingest`, `sluice worker`
// and `sluice results` processes, real failures (kill -9 of a worker, of the ingest, of Redis;
// a frame that crashes every worker that processes it).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "redis/redis_connection.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;
using Key = std::pair<std::uint64_t, std::uint64_t>;

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr int kPartitions = 4;

// A redis-server of its own on a free loopback port, in the test's temporary directory. It can be
// killed and started again on the same port and directory (its AOF, when on, is kept).
class RedisServer {
 public:
  RedisServer(std::string dir, bool aof) : dir_(std::move(dir)), port_(free_port()), aof_(aof) { start(); }

  void start() {
    process_.emplace(ChildProcess::spawn(
        {kRedisServer, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_, "--save", "",
         "--appendonly", aof_ ? "yes" : "no", "--appendfsync", "always"},
        fmt::format("{}/redis-{}.log", dir_, starts_++), ""));
    // Redis accepts connections while it loads its AOF, and answers LOADING until it is done.
    ready_ = wait_for_port(port_, 20s) && eventually_ready(20s);
  }
  void kill9() {
    process_->signal(SIGKILL);
    process_->wait(10s);
  }
  bool ready() const { return ready_; }
  bool eventually_ready(std::chrono::milliseconds timeout) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    redis::RedisConnection conn(*redis::parse_redis_url(url()), {});
    while (std::chrono::steady_clock::now() < until) {
      redis::RedisCommand ping("PING");
      if (auto r = conn.run(ping); r && redis::reply_str(**r) == "PONG") return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  std::string url() const { return fmt::format("redis://127.0.0.1:{}", port_); }

 private:
  std::string dir_;
  std::uint16_t port_;
  bool aof_;
  int starts_ = 0;
  bool ready_ = false;
  std::optional<ChildProcess> process_;
};

std::vector<std::string> ingest_args(const RedisServer& redis, std::uint16_t port) {
  return {sluice_binary(), "ingest",    "--listen",     fmt::format("127.0.0.1:{}", port),
          "--redis",       redis.url(), "--partitions", std::to_string(kPartitions)};
}

// A worker with one single-threaded executor (three of them share the two cores), quick to
// reclaim; `overrides` replace or add options.
std::vector<std::string> worker_args(const RedisServer& redis, const std::string& consumer,
                                     const std::map<std::string, std::string>& overrides = {}) {
  std::map<std::string, std::string> options{
      {"--redis", redis.url()},      {"--partitions", std::to_string(kPartitions)},
      {"--consumer", consumer},      {"--model", fashion_bundle()},
      {"--batch-interval", "100ms"}, {"--block-interval", "25ms"},
      {"--executors", "1"},          {"--cores", "1"},
      {"--block", "200ms"},          {"--claim-idle", "2s"},
      {"--claim-interval", "250ms"}, {"--max-in-flight", "512"}};
  for (const auto& [k, v] : overrides) options[k] = v;
  std::vector<std::string> argv{sluice_binary(), "worker"};
  for (const auto& [k, v] : options) {
    argv.push_back(k);
    argv.push_back(v);
  }
  return argv;
}

std::vector<std::string> send_args(std::uint16_t port, std::vector<std::string> extra) {
  std::vector<std::string> argv{sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port),
                                "--connections", "4"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(fashion_images());
  return argv;
}

// Σ over the partitions of XLEN, read directly from Redis. A sum is taken only when every
// partition answered: a partition skipped (Redis still loading its AOF, or reconnecting) would
// make a partial count, so the read is repeated, for at most 10 s (then 0: no partial figures).
std::uint64_t total_length(const RedisServer& redis, const std::string& prefix) {
  redis::RedisConnection conn(*redis::parse_redis_url(redis.url()), {});
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    std::uint64_t total = 0;
    int answered = 0;
    for (int p = 0; p < kPartitions; ++p) {
      redis::RedisCommand xlen("XLEN");
      xlen.add(fmt::format("{}:{{{}}}", prefix, p));
      auto reply = conn.run(xlen);
      if (!reply || (*reply)->type != REDIS_REPLY_INTEGER) break;
      total += static_cast<std::uint64_t>((*reply)->integer);
      ++answered;
    }
    if (answered == kPartitions) return total;
    std::this_thread::sleep_for(50ms);
  }
  return 0;
}

// Frames delivered to `consumer` (or, empty, to anyone) and not acknowledged yet.
std::uint64_t pending_of(const RedisServer& redis, const std::string& consumer) {
  redis::RedisConnection conn(*redis::parse_redis_url(redis.url()), {});
  std::uint64_t total = 0;
  for (int p = 0; p < kPartitions; ++p) {
    redis::RedisCommand cmd("XPENDING");
    cmd.add(fmt::format("sluice:frames:{{{}}}", p)).add("sluice");
    auto reply = conn.run(cmd);
    if (!reply) continue;
    // [count, smallest, greatest, [[consumer, count], ...]]
    const redisReply* count = redis::reply_at(**reply, 0);
    const redisReply* consumers = redis::reply_at(**reply, 3);
    if (consumer.empty() && count != nullptr) total += static_cast<std::uint64_t>(count->integer);
    for (std::size_t i = 0; !consumer.empty() && consumers != nullptr && i < consumers->elements; ++i) {
      const redisReply* row = consumers->element[i];
      if (redis::reply_str(*redis::reply_at(*row, 0)) == consumer) {
        total += static_cast<std::uint64_t>(redis::reply_integer(*redis::reply_at(*row, 1)).value_or(0));
      }
    }
  }
  return total;
}

// `sluice results` until `n` distinct (stream, seq) have a result: its exit code.
int wait_for_results(const RedisServer& redis, const std::string& dir, std::size_t n) {
  auto reader = ChildProcess::spawn(
      {sluice_binary(), "results", "--redis", redis.url(), "--partitions", std::to_string(kPartitions),
       "--distinct", "--wait", std::to_string(n), "--timeout", "150s"},
      "", dir + "/wait-results.err");
  return reader.wait(170s).value_or(-1);
}

// Every stored line of the result (or dead-letter) streams, through `sluice results`.
std::vector<json> read_all(const RedisServer& redis, const std::string& dir, bool dead_letters = false) {
  std::vector<std::string> argv{sluice_binary(), "results",      "--redis",
                                redis.url(),     "--partitions", std::to_string(kPartitions),
                                "--meta",        "--timeout",    "500ms"};
  if (dead_letters) argv.push_back("--dead-letters");
  const auto out = dir + (dead_letters ? "/dead.jsonl" : "/all-results.jsonl");
  auto reader = ChildProcess::spawn(argv, out, dir + "/read-all.err");
  EXPECT_EQ(reader.wait(60s), 0) << read_file(dir + "/read-all.err");
  std::vector<json> lines;
  for (const auto& line : read_lines(out)) lines.push_back(json::parse(line));
  return lines;
}

std::map<Key, std::vector<json>> by_key(const std::vector<json>& lines) {
  std::map<Key, std::vector<json>> keys;
  for (const auto& r : lines)
    keys[{r["stream"].get<std::uint64_t>(), r["seq"].get<std::uint64_t>()}].push_back(r);
  return keys;
}

// The keys are exactly `streams` producer streams with seqs 0..per_stream-1.
void expect_complete(const std::map<Key, std::vector<json>>& keys, std::size_t streams,
                     std::uint64_t per_stream) {
  std::map<std::uint64_t, std::uint64_t> per;
  for (const auto& [key, results] : keys) {
    EXPECT_LT(key.second, per_stream);
    ++per[key.first];
  }
  EXPECT_EQ(per.size(), streams);
  for (const auto& [stream, n] : per) EXPECT_EQ(n, per_stream) << "stream " << stream;
}

// Polls `ready` every 100 ms for at most `timeout`.
bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

void require_prerequisites() {
  ASSERT_TRUE(std::filesystem::exists(kRedisServer)) << kRedisServer << " is missing: run scripts/setup.sh";
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle())) << fashion_bundle();
  ASSERT_TRUE(std::filesystem::exists(fashion_images())) << fashion_images();
}

// 3 workers, 20,000 frames, kill -9 of one worker halfway: every frame gets a result; a frame
// with two results was reclaimed (its second result says deliveries >= 2).
TEST(RedisEndToEnd, WorkerKilledMidStreamLosesNothing) {
  require_prerequisites();
  const auto dir = make_temp_dir("redis-worker-kill");
  RedisServer redis(dir, /*aof=*/false);
  ASSERT_TRUE(redis.ready()) << read_file(dir + "/redis-0.log");
  const auto port = free_port();
  auto ingest = ChildProcess::spawn(ingest_args(redis, port), "", dir + "/ingest.log");
  ASSERT_TRUE(wait_for_port(port, 30s)) << read_file(dir + "/ingest.log");
  std::map<std::string, std::optional<ChildProcess>> workers;
  for (const auto* name : {"w1", "w2", "w3"}) {
    workers[name].emplace(
        ChildProcess::spawn(worker_args(redis, name), "", fmt::format("{}/{}.log", dir, name)));
  }
  auto sender = ChildProcess::spawn(send_args(port, {"--repeat", "2"}), dir + "/send.out", dir + "/send.err");
  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");

  // Halfway, and while w2 holds frames it has not finished.
  ASSERT_TRUE(eventually(
      [&] { return total_length(redis, "sluice:results") >= 6000 && pending_of(redis, "w2") > 0; }, 120s))
      << read_file(dir + "/w2.log");
  workers["w2"]->signal(SIGKILL);
  ASSERT_EQ(workers["w2"]->wait(10s), 128 + SIGKILL);
  EXPECT_LT(total_length(redis, "sluice:results"), 20000u) << "the kill must happen mid-stream";

  ASSERT_EQ(wait_for_results(redis, dir, 20000), 0)
      << read_file(dir + "/wait-results.err") << read_file(dir + "/w1.log");
  for (const auto* name : {"w1", "w3"}) {
    workers[name]->signal(SIGTERM);
    EXPECT_EQ(workers[name]->wait(60s), 0) << read_file(fmt::format("{}/{}.log", dir, name));
  }
  ingest.signal(SIGTERM);
  EXPECT_EQ(ingest.wait(30s), 0) << read_file(dir + "/ingest.log");

  const auto lines = read_all(redis, dir);
  const auto keys = by_key(lines);
  ASSERT_EQ(keys.size(), 20000u) << "every frame has a result";
  expect_complete(keys, 4, 5000);
  std::size_t reclaimed = 0, duplicated = 0;
  for (const auto& r : lines) {
    const auto deliveries = r["deliveries"].get<int>();
    if (deliveries >= 2) {
      ++reclaimed;
      EXPECT_NE(r["worker"], "w2") << "only the survivors reclaim: " << r.dump();
    }
  }
  for (const auto& [key, results] : keys) {
    if (results.size() < 2) continue;
    ++duplicated;
    // A duplicate is a reclaimed frame: one of its results comes from a later delivery.
    const bool reclaimed_frame = std::any_of(results.begin(), results.end(),
                                             [](const json& r) { return r["deliveries"].get<int>() >= 2; });
    EXPECT_TRUE(reclaimed_frame) << "stream " << key.first << " seq " << key.second << " has "
                                 << results.size() << " results, none from a reclaim";
  }
  EXPECT_GT(reclaimed, 0u) << "w2's unfinished frames are reclaimed by the survivors";
  EXPECT_EQ(pending_of(redis, ""), 0u) << "every frame is acknowledged";
  EXPECT_TRUE(read_all(redis, dir, /*dead_letters=*/true).empty());
  RecordProperty("reclaimed", static_cast<int>(reclaimed));
  RecordProperty("duplicated", static_cast<int>(duplicated));
}

// kill -9 of the ingest while producers with acks stream to it, then a new ingest on the same
// port: the producers re-send what was not acknowledged, and every frame gets a result.
TEST(RedisEndToEnd, IngestRestartWithAckingProducersLosesNothing) {
  require_prerequisites();
  const auto dir = make_temp_dir("redis-ingest-restart");
  RedisServer redis(dir, /*aof=*/false);
  ASSERT_TRUE(redis.ready()) << read_file(dir + "/redis-0.log");
  const auto port = free_port();
  std::optional<ChildProcess> ingest(ChildProcess::spawn(ingest_args(redis, port), "", dir + "/ingest1.log"));
  ASSERT_TRUE(wait_for_port(port, 30s)) << read_file(dir + "/ingest1.log");
  auto w1 = ChildProcess::spawn(worker_args(redis, "w1"), "", dir + "/w1.log");
  auto w2 = ChildProcess::spawn(worker_args(redis, "w2"), "", dir + "/w2.log");
  auto sender =
      ChildProcess::spawn(send_args(port, {"--ack", "--rate", "2500"}), dir + "/send.out", dir + "/send.err");
  ASSERT_TRUE(eventually([&] { return total_length(redis, "sluice:results") >= 2000; }, 60s))
      << read_file(dir + "/ingest1.log");
  ingest->signal(SIGKILL);
  ASSERT_EQ(ingest->wait(10s), 128 + SIGKILL);
  EXPECT_LT(total_length(redis, "sluice:results"), 10000u) << "the kill must happen mid-stream";
  std::this_thread::sleep_for(500ms);  // the producers notice and start re-connecting
  ingest.emplace(ChildProcess::spawn(ingest_args(redis, port), "", dir + "/ingest2.log"));
  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");
  EXPECT_NE(read_file(dir + "/send.out").find("sent 10000 frames"), std::string::npos)
      << read_file(dir + "/send.out");

  ASSERT_EQ(wait_for_results(redis, dir, 10000), 0) << read_file(dir + "/wait-results.err");
  const auto keys = by_key(read_all(redis, dir));
  ASSERT_EQ(keys.size(), 10000u);
  expect_complete(keys, 4, 2500);
  for (auto* w : {&w1, &w2}) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(60s), 0);
  }
  ingest->signal(SIGTERM);
  EXPECT_EQ(ingest->wait(30s), 0) << read_file(dir + "/ingest2.log");
}

// kill -9 of Redis (AOF on, appendfsync always) mid-stream, then a restart from its AOF: every
// frame the producers had acknowledged survives, the rest is re-sent, and all get results.
// (While Redis loads its AOF it answers LOADING, to PING and XLEN alike: RedisServer::start waits
// for PONG, and total_length never sums a partition that did not answer.)
TEST(RedisEndToEnd, RedisRestartWithAofLosesNoAcknowledgedFrame) {
  require_prerequisites();
  const auto dir = make_temp_dir("redis-restart");
  RedisServer redis(dir, /*aof=*/true);
  ASSERT_TRUE(redis.ready()) << read_file(dir + "/redis-0.log");
  const auto port = free_port();
  auto ingest = ChildProcess::spawn(ingest_args(redis, port), "", dir + "/ingest.log");
  ASSERT_TRUE(wait_for_port(port, 30s)) << read_file(dir + "/ingest.log");
  auto w1 = ChildProcess::spawn(worker_args(redis, "w1"), "", dir + "/w1.log");
  auto w2 = ChildProcess::spawn(worker_args(redis, "w2"), "", dir + "/w2.log");
  auto sender =
      ChildProcess::spawn(send_args(port, {"--ack", "--rate", "2500"}), dir + "/send.out", dir + "/send.err");
  ASSERT_TRUE(eventually([&] { return total_length(redis, "sluice:results") >= 2000; }, 60s))
      << read_file(dir + "/w1.log");
  redis.kill9();
  std::this_thread::sleep_for(1s);
  redis.start();
  ASSERT_TRUE(redis.ready()) << read_file(dir + "/redis-1.log");
  const auto recovered = total_length(redis, "sluice:results");
  EXPECT_GE(recovered, 2000u) << "results written before the crash are in the AOF";
  EXPECT_LT(recovered, 10000u) << "the crash must happen mid-stream";

  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");
  ASSERT_EQ(wait_for_results(redis, dir, 10000), 0)
      << read_file(dir + "/wait-results.err") << read_file(dir + "/ingest.log");
  const auto keys = by_key(read_all(redis, dir));
  ASSERT_EQ(keys.size(), 10000u);
  expect_complete(keys, 4, 2500);
  for (auto* w : {&w1, &w2}) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(60s), 0);
  }
  ingest.signal(SIGTERM);
  EXPECT_EQ(ingest.wait(30s), 0) << read_file(dir + "/ingest.log");
  const auto ingest_log = read_file(dir + "/ingest.log");
  EXPECT_NE(ingest_log.find("retrying"), std::string::npos) << "the ingest saw Redis go away: " << ingest_log;
}

// A frame that kills every worker that processes it ends in the dead-letter stream after
// --max-deliveries, with the reason; the other frames all get their results.
TEST(RedisEndToEnd, PoisonFrameEndsInTheDeadLetterStream) {
  require_prerequisites();
  const auto dir = make_temp_dir("redis-poison");
  RedisServer redis(dir, /*aof=*/false);
  ASSERT_TRUE(redis.ready()) << read_file(dir + "/redis-0.log");
  const auto port = free_port();
  auto ingest = ChildProcess::spawn(ingest_args(redis, port), "", dir + "/ingest.log");
  ASSERT_TRUE(wait_for_port(port, 30s)) << read_file(dir + "/ingest.log");
  // Frames of an IDX file are named by their index: frame "77" is the poison.
  const std::map<std::string, std::string> poison{{"--crash-on-name", "77"}, {"--max-deliveries", "3"},
                                                  {"--claim-idle", "1s"},    {"--claim-interval", "200ms"},
                                                  {"--max-in-flight", "64"}, {"--count", "16"}};
  std::map<std::string, std::optional<ChildProcess>> workers;
  int starts = 0;
  auto start_worker = [&](const std::string& name) {
    workers[name].emplace(ChildProcess::spawn(worker_args(redis, name, poison), "",
                                              fmt::format("{}/{}-{}.log", dir, name, starts++)));
  };
  start_worker("w1");
  start_worker("w2");
  auto sender =
      ChildProcess::spawn(send_args(port, {"--limit", "2000"}), dir + "/send.out", dir + "/send.err");
  ASSERT_EQ(sender.wait(60s), 0) << read_file(dir + "/send.err");

  // The test is the workers' supervisor (systemd's Restart=always): a crashed worker restarts.
  int crashes = 0;
  const bool settled = eventually(
      [&] {
        for (auto& [name, w] : workers) {
          if (const auto rc = w->wait(0ms)) {
            EXPECT_EQ(*rc, 128 + SIGABRT) << name << " ended otherwise than by the poison frame";
            ++crashes;
            start_worker(name);
          }
        }
        return total_length(redis, "sluice:dead") >= 1 && total_length(redis, "sluice:results") >= 1999 &&
               pending_of(redis, "") == 0;
      },
      150s);
  ASSERT_TRUE(settled) << "dead letters " << total_length(redis, "sluice:dead") << ", results "
                       << total_length(redis, "sluice:results");
  EXPECT_EQ(crashes, 3) << "the poison frame is processed exactly --max-deliveries times";

  const auto dead = read_all(redis, dir, /*dead_letters=*/true);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["name"], "77");
  EXPECT_EQ(dead[0]["deliveries"], 3);
  EXPECT_NE(dead[0]["reason"].get<std::string>().find("--max-deliveries is 3"), std::string::npos)
      << dead[0].dump();
  EXPECT_GT(dead[0]["payload_bytes"].get<int>(), 0) << "the frame itself is kept for inspection";

  ASSERT_EQ(wait_for_results(redis, dir, 1999), 0) << read_file(dir + "/wait-results.err");
  const auto lines = read_all(redis, dir);
  const auto keys = by_key(lines);
  EXPECT_EQ(keys.size(), 1999u) << "every other frame has its result";
  for (const auto& r : lines) EXPECT_NE(r["name"], "77");
  for (auto& [name, w] : workers) {
    w->signal(SIGTERM);
    EXPECT_EQ(w->wait(60s), 0) << name;
  }
  ingest.signal(SIGTERM);
  EXPECT_EQ(ingest.wait(30s), 0) << read_file(dir + "/ingest.log");
}

}  // namespace
}  // namespace sluice::test
