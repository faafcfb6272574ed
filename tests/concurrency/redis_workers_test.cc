// Redis workers in one process, so that ThreadSanitizer sees their threads: two pipelines, each
// a RedisStreamSource (a reader per partition, maintenance, feeder) and a RedisResultSink, share
// a consumer group on a redis-server of the test's own; frames go in through the FrameWriter the
// ingest uses, results come out through the ResultsReader `sluice results` uses.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/streaming_context.h"
#include "model/model_bundle.h"
#include "producer/frame_set.h"
#include "redis/frame_writer.h"
#include "redis/redis_result_sink.h"
#include "redis/redis_stream_source.h"
#include "redis/results_reader.h"
#include "support/redis_server.h"
#include "support/results.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kPartitions = 4;

// One `sluice worker`, in process: its source, its result sink and its pipeline.
class Worker {
 public:
  Worker(const RedisServer& redis, const model::ModelBundle& bundle, const std::string& consumer) {
    const auto url = *redis::parse_redis_url(redis.url());
    redis::StreamSourceOptions so;
    so.url = url;
    so.layout.partitions = kPartitions;
    so.consumer = consumer;
    so.read_count = 16;
    so.block = 200ms;
    so.max_in_flight = 128;
    // A stopped worker's unfinished frames are reclaimed by the other after a second.
    so.reclaim = {so.layout, so.group, consumer, 1000ms, 256, 3, 2, 100000};
    so.heartbeat = 300ms;
    so.claim_interval = 200ms;
    auto source = std::make_unique<redis::RedisStreamSource>(so);
    sink_ = std::make_unique<redis::RedisResultSink>(
        url, redis::ResultSinkOptions{so.layout, so.group, consumer, 1000000, 30000ms, "", so.connection},
        source->in_flight());
    PipelineConfig config;
    config.batch_interval = 100ms;
    config.block_interval = 25ms;
    config.executors = 1;
    config.cores = 1;
    context_ = std::make_unique<engine::StreamingContext>(config, bundle, *sink_);
    context_->add_source(std::move(source));
  }
  Status start() { return context_->start(); }
  /// Graceful stop: the frames it holds and has not finished stay pending in Redis.
  void stop() { context_->stop(); }
  const observe::PipelineMetrics& metrics() const { return context_->metrics(); }

 private:
  std::unique_ptr<redis::RedisResultSink> sink_;
  std::unique_ptr<engine::StreamingContext> context_;
};

// Every stored result, with its worker and delivery count.
std::vector<json> read_results(const RedisServer& redis) {
  redis::StreamLayout layout;
  layout.partitions = kPartitions;
  redis::ResultsReader reader(*redis::parse_redis_url(redis.url()), layout, {}, {});
  EXPECT_TRUE(reader.start());
  std::vector<json> lines;
  while (true) {
    auto batch = reader.poll(/*meta=*/true);
    EXPECT_TRUE(batch) << batch.status().to_string();
    if (!batch || batch->empty()) break;
    for (const auto& line : *batch) lines.push_back(json::parse(line.json));
  }
  return lines;
}

// Two workers take frames from the same group at once; one stops while it holds frames, and
// the other finishes them: every frame ends with a result, none is lost.
TEST(ConcurrentRedisWorkers, TwoWorkersShareTheStreamsAndOneStopsMidStream) {
  SLUICE_REQUIRE_SETUP(kRedisServer, fashion_bundle(), fashion_images());
  const auto dir = make_temp_dir("inproc-redis");
  RedisServer redis(dir);
  ASSERT_TRUE(redis.ready()) << read_file(redis.log());
  auto bundle = model::load_bundle(fashion_bundle(), {});
  ASSERT_TRUE(bundle) << bundle.status().to_string();
  Worker w1(redis, *bundle, "w1");
  Worker w2(redis, *bundle, "w2");
  ASSERT_TRUE(w1.start());
  ASSERT_TRUE(w2.start());

  // 1200 frames over 8 producer streams (so over every partition), written as the ingest does.
  auto set = producer::load_idx_frames(fashion_images(), 150);
  ASSERT_TRUE(set) << set.status().to_string();
  redis::StreamLayout layout;
  layout.partitions = kPartitions;
  redis::FrameWriter writer(*redis::parse_redis_url(redis.url()), layout, {});
  std::vector<Frame> frames;
  for (std::uint64_t stream = 1; stream <= 8; ++stream) {
    for (std::uint64_t seq = 0; seq < set->frames.size(); ++seq) {
      Frame f;
      f.stream = stream;
      f.seq = seq;
      f.name = set->frames[seq].name;
      f.payload = Payload(set->frames[seq].payload);
      frames.push_back(std::move(f));
    }
  }
  std::thread producer([&] {
    for (std::size_t i = 0; i < frames.size(); i += 100) {
      const auto n = std::min<std::size_t>(100, frames.size() - i);
      EXPECT_TRUE(writer.write(std::span<const Frame>(frames).subspan(i, n)));
    }
  });
  ASSERT_TRUE(
      eventually([&] { return redis.total_length("sluice:results", kPartitions) >= 300; }, 120s, 50ms));
  w1.stop();
  producer.join();
  ASSERT_TRUE(
      eventually([&] { return redis.total_length("sluice:results", kPartitions) >= 1200; }, 180s, 100ms))
      << redis.total_length("sluice:results", kPartitions) << " results";
  w2.stop();

  const auto lines = read_results(redis);
  const auto keys = by_key(lines);
  EXPECT_EQ(keys.size(), 1200u) << "every frame has a result";
  expect_complete(keys, 8, 150);
  std::size_t by_w1 = 0;
  for (const auto& r : lines) {
    EXPECT_TRUE(r.contains("top")) << r.dump();
    by_w1 += r["worker"] == "w1" ? 1 : 0;
  }
  EXPECT_GT(by_w1, 0u) << "both workers took frames";
  EXPECT_LT(by_w1, lines.size());
  EXPECT_GE(fashion_accuracy(lines), 0.8) << "see kMinAccuracy in pipeline_sources_test.cc";
}

}  // namespace
}  // namespace sluice::test
