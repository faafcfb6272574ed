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
#include "support/redis_server.h"
#include "support/results.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kPartitions = 4;

// `sluice ingest` on a free loopback port (or `port`, to restart one), writing to `redis`.
ServeProcess start_ingest(const RedisServer& redis, const std::string& dir, const std::string& log_name,
                          std::uint16_t port = 0) {
  return ServeProcess({.dir = dir,
                       .args = {"--redis", redis.url(), "--partitions", std::to_string(kPartitions)},
                       .port = port,
                       .model = "",
                       .output = false,
                       .batch_interval = "",
                       .block_interval = "",
                       .command = "ingest",
                       .log_name = log_name});
}

// A worker with one single-threaded executor (three of them share the two cores), quick to
// reclaim; `overrides` replace or add options. Ready once it logs where its results go.
ServeProcess start_worker(const RedisServer& redis, const std::string& dir, const std::string& consumer,
                          const std::string& log_name,
                          const std::map<std::string, std::string>& overrides = {}) {
  std::map<std::string, std::string> options{
      {"--redis", redis.url()},  {"--partitions", std::to_string(kPartitions)},
      {"--consumer", consumer},  {"--executors", "1"},
      {"--cores", "1"},          {"--block", "200ms"},
      {"--claim-idle", "2s"},    {"--claim-interval", "250ms"},
      {"--max-in-flight", "512"}};
  for (const auto& [k, v] : overrides) options[k] = v;
  ServeOptions serve{.dir = dir,
                     .listen = false,
                     .output = false,
                     .batch_interval = "100ms",
                     .block_interval = "25ms",
                     .command = "worker",
                     .log_name = log_name,
                     .ready_log = "results go to"};
  for (const auto& [k, v] : options) serve.args.insert(serve.args.end(), {k, v});
  return ServeProcess(std::move(serve));
}

std::vector<std::string> send_args(std::vector<std::string> extra) {
  extra.insert(extra.begin(), {"--connections", "4"});
  extra.push_back(fashion_images());
  return extra;
}

std::uint64_t total_length(const RedisServer& redis, const std::string& prefix) {
  return redis.total_length(prefix, kPartitions);
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
  return read_json_lines(out);
}

// The acked-stream tests: Redis (its AOF on or off), an ingest, two workers, and producers with acks sending
// 10,000 frames at 2500/s over 4 connections; start() returns once 2000 results are in, mid-stream, for the
// test to kill something, and finish() checks that every frame has its result.
class RedisEndToEnd : public ::testing::Test {
 protected:
  void start(bool aof) {
    SLUICE_REQUIRE_SETUP(kRedisServer, fashion_bundle(), fashion_images());
    dir_ = make_temp_dir(aof ? "redis-restart" : "redis-ingest-restart");
    redis_.emplace(dir_, aof);
    ASSERT_TRUE(redis_->ready()) << read_file(redis_->log());
    ingest_.emplace(start_ingest(*redis_, dir_, "ingest1.log"));
    ASSERT_TRUE(ingest_->ready()) << ingest_->log();
    for (const auto* name : {"w1", "w2"}) {
      workers_.emplace_back(start_worker(*redis_, dir_, name, fmt::format("{}.log", name)));
    }
    sender_.emplace(spawn_send(dir_, ingest_->port(), send_args({"--ack", "--rate", "2500"})));
    ASSERT_TRUE(eventually([&] { return total_length(*redis_, "sluice:results") >= 2000; }, 60s, 100ms))
        << ingest_->log() << workers_[0].log();
  }

  void finish() {
    ASSERT_EQ(sender_->wait(120s), 0) << read_file(dir_ + "/send.err");
    ASSERT_EQ(wait_for_results(*redis_, dir_, 10000), 0)
        << read_file(dir_ + "/wait-results.err") << ingest_->log();
    const auto keys = by_key(read_all(*redis_, dir_));
    ASSERT_EQ(keys.size(), 10000u);
    expect_complete(keys, 4, 2500);
    for (auto& w : workers_) EXPECT_EQ(w.stop(), 0) << w.log();
    EXPECT_EQ(ingest_->stop(30s), 0) << ingest_->log();
  }

  std::string dir_;
  std::optional<RedisServer> redis_;
  std::optional<ServeProcess> ingest_;
  std::vector<ServeProcess> workers_;
  std::optional<ChildProcess> sender_;
};

// 3 workers, 20,000 frames, kill -9 of one worker halfway: every frame gets a result; a frame
// with two results was reclaimed (its second result says deliveries >= 2).
TEST_F(RedisEndToEnd, WorkerKilledMidStreamLosesNothing) {
  SLUICE_REQUIRE_SETUP(kRedisServer, fashion_bundle(), fashion_images());
  const auto dir = make_temp_dir("redis-worker-kill");
  RedisServer redis(dir, /*aof=*/false);
  ASSERT_TRUE(redis.ready()) << read_file(redis.log());
  auto ingest = start_ingest(redis, dir, "ingest.log");
  ASSERT_TRUE(ingest.ready()) << ingest.log();
  std::map<std::string, ServeProcess> workers;
  for (const std::string name : {"w1", "w2", "w3"}) {
    workers.emplace(name, start_worker(redis, dir, name, name + ".log"));
    ASSERT_TRUE(workers.at(name).ready()) << workers.at(name).log();
  }
  auto sender = spawn_send(dir, ingest.port(), send_args({"--repeat", "2"}));
  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");

  // Halfway, and while w2 holds frames it has not finished.
  ASSERT_TRUE(
      eventually([&] { return total_length(redis, "sluice:results") >= 6000 && pending_of(redis, "w2") > 0; },
                 120s, 100ms))
      << workers.at("w2").log();
  ASSERT_EQ(workers.at("w2").kill9(), 128 + SIGKILL);
  EXPECT_LT(total_length(redis, "sluice:results"), 20000u) << "the kill must happen mid-stream";

  ASSERT_EQ(wait_for_results(redis, dir, 20000), 0)
      << read_file(dir + "/wait-results.err") << workers.at("w1").log();
  for (const auto* name : {"w1", "w3"}) EXPECT_EQ(workers.at(name).stop(), 0) << workers.at(name).log();
  EXPECT_EQ(ingest.stop(30s), 0) << ingest.log();

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
TEST_F(RedisEndToEnd, IngestRestartWithAckingProducersLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(start(/*aof=*/false));
  const auto port = ingest_->port();
  ASSERT_EQ(ingest_->kill9(), 128 + SIGKILL);
  EXPECT_LT(total_length(*redis_, "sluice:results"), 10000u) << "the kill must happen mid-stream";
  std::this_thread::sleep_for(500ms);  // the producers notice and start re-connecting
  ingest_.emplace(start_ingest(*redis_, dir_, "ingest2.log", port));
  ASSERT_TRUE(ingest_->ready()) << ingest_->log();
  finish();
}

// kill -9 of Redis (AOF on, appendfsync always) mid-stream, then a restart from its AOF: every
// frame the producers had acknowledged survives, the rest is re-sent, and all get results.
// (While Redis loads its AOF it answers LOADING, to PING and XLEN alike: RedisServer::start waits
// for PONG, and total_length never sums a partition that did not answer.)
TEST_F(RedisEndToEnd, RedisRestartWithAofLosesNoAcknowledgedFrame) {
  ASSERT_NO_FATAL_FAILURE(start(/*aof=*/true));
  redis_->kill9();
  std::this_thread::sleep_for(1s);
  redis_->start();
  ASSERT_TRUE(redis_->ready()) << read_file(redis_->log(1));
  const auto recovered = total_length(*redis_, "sluice:results");
  EXPECT_GE(recovered, 2000u) << "results written before the crash are in the AOF";
  EXPECT_LT(recovered, 10000u) << "the crash must happen mid-stream";
  finish();
  // The ingest has no metrics endpoint: its log is where an operator sees that it rode out the
  // outage (the rule: a write keeps retrying while Redis is unreachable).
  EXPECT_NE(ingest_->log().find("retrying"), std::string::npos) << "the ingest saw Redis go away";
}

// A frame that kills every worker that processes it ends in the dead-letter stream after
// --max-deliveries, with the reason; the other frames all get their results.
TEST_F(RedisEndToEnd, PoisonFrameEndsInTheDeadLetterStream) {
  SLUICE_REQUIRE_SETUP(kRedisServer, fashion_bundle(), fashion_images());
  const auto dir = make_temp_dir("redis-poison");
  RedisServer redis(dir, /*aof=*/false);
  ASSERT_TRUE(redis.ready()) << read_file(redis.log());
  auto ingest = start_ingest(redis, dir, "ingest.log");
  ASSERT_TRUE(ingest.ready()) << ingest.log();
  // Frames of an IDX file are named by their index: frame "77" is the poison.
  const std::map<std::string, std::string> poison{{"--crash-on-name", "77"}, {"--max-deliveries", "3"},
                                                  {"--claim-idle", "1s"},    {"--claim-interval", "200ms"},
                                                  {"--max-in-flight", "64"}, {"--count", "16"}};
  std::map<std::string, std::optional<ServeProcess>> workers;
  int starts = 0;
  auto restart = [&](const std::string& name) {
    workers[name].emplace(start_worker(redis, dir, name, fmt::format("{}-{}.log", name, starts++), poison));
  };
  restart("w1");
  restart("w2");
  auto sender = spawn_send(dir, ingest.port(), send_args({"--limit", "2000"}));
  ASSERT_EQ(sender.wait(60s), 0) << read_file(dir + "/send.err");

  // The test is the workers' supervisor (systemd's Restart=always): a crashed worker restarts.
  int crashes = 0;
  const bool settled = eventually(
      [&] {
        for (auto& [name, w] : workers) {
          if (const auto rc = w->wait(0ms)) {
            EXPECT_EQ(*rc, 128 + SIGABRT) << name << " ended otherwise than by the poison frame";
            ++crashes;
            restart(name);
          }
        }
        return total_length(redis, "sluice:dead") >= 1 && total_length(redis, "sluice:results") >= 1999 &&
               pending_of(redis, "") == 0;
      },
      150s, 100ms);
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
  for (auto& [name, w] : workers) EXPECT_EQ(w->stop(), 0) << w->log();
  EXPECT_EQ(ingest.stop(30s), 0) << ingest.log();
}

}  // namespace
}  // namespace sluice::test
