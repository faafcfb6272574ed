// Power loss and process crashes at many points, through the fault-injecting file system: the
// pipeline runs with a write-ahead log, dedup and an acknowledging producer; at the crash point
// the file system freezes (the process "died"); then everything not fsynced is dropped (the power
// went) and a new pipeline starts on what survived. The promise checked:
//   fsync=always: no frame acknowledged before the crash is missing its line.
//   fsync=interval and never: a power loss may lose frames acknowledged after the last fsync of
//   the output, and only those; a process crash alone loses nothing acknowledged.
// With dedup every frame that has a line has exactly one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "monitor/pipeline_view.h"
#include "support/durability_harness.h"
#include "support/test_env.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using Op = FaultFileSystem::Op;
using Fault = FaultFileSystem::Fault;

constexpr std::size_t kFrames = 120;
// 60 frames/s: the stream lasts 2 s, about 40 batches of 50 ms, so crash points up to the 8th
// group commit fall inside it (one never reached fails the test: it says so), even when a slow
// machine (ASan, a busy CPU) holds the first batch for 0.6 s and the frames meanwhile pile into
// one batch: at 200 frames/s that once left only 2 commits.
constexpr double kRate = 60.0;
constexpr std::uint64_t kSmallSegment = 4096;  // ~10 Fashion-MNIST frames: a roll every few batches

struct CrashPoint {
  std::string name;
  std::vector<FaultFileSystem::Rule> rules;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::uint64_t segment_bytes = 64ull << 20;
  bool power_loss = true;  // false: the process crashes, the OS keeps what it was given
};

bool is_output(const std::string& path) {
  return path.size() >= 9 && path.compare(path.size() - 9, 9, "out.jsonl") == 0;
}

void PrintTo(const CrashPoint& point, std::ostream* os) {
  *os << point.name;
}

class PowerLossTest : public ::testing::TestWithParam<CrashPoint> {};

TEST_P(PowerLossTest, NoAcknowledgedFrameIsLostOutsideTheDocumentedWindow) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& point = GetParam();
  const auto& frames = fashion_frames(kFrames);
  ScratchDir dir("powerloss");
  FaultFileSystem fs(dir.path + "/trash");
  auto config = durable_config(dir.path, &fs, /*dedup=*/true, /*wal=*/true);
  config.fsync = point.fsync;
  config.fsync_interval = 100ms;
  config.wal_segment_bytes = point.segment_bytes;

  auto pipeline = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(pipeline);
  for (const auto& rule : point.rules) fs.add_rule(rule);
  auto producer = ProducerThread::acked(frames, listen_port(*pipeline), kRate);
  // Acknowledged frames as of the last fsync of the output: an ack follows its line's write, so
  // every frame counted here had its line on disk before that fsync began.
  std::atomic<std::uint64_t> acked_at_output_sync{0};
  fs.on_success([&](Op op, const std::string& path) {
    if (op == Op::kSync && is_output(path)) acked_at_output_sync = producer->progress();
  });
  ASSERT_TRUE(wait_until([&] { return fs.crashed(); }, 30s)) << "the crash point was never reached";

  // The process is dead: nothing it does from now on reaches the disk.
  (void)pipeline->stop(200ms);
  pipeline.reset();
  fs.on_success(nullptr);
  producer->cancel();
  const std::uint64_t acked = producer->progress();  // every ack the producer ever received
  const std::string dropped = point.power_loss ? fs.power_loss() : (fs.restart(), std::string("nothing"));

  // A new process on what survived.
  auto restarted = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(restarted) << "restart after: " << dropped;
  const auto replayed = restarted->view().context.wal()->recovery().pending;
  ASSERT_TRUE(restarted->stop(30s));
  restarted.reset();

  const auto out = read_output(config.output);
  EXPECT_TRUE(out.all_whole) << "a torn line survived the restart";
  const auto streams = out.producer_streams();
  ASSERT_LE(streams.size(), 1u);
  const bool window_is_empty = point.fsync == FsyncPolicy::kAlways || !point.power_loss;
  const std::uint64_t must_have = window_is_empty ? acked : acked_at_output_sync.load();
  std::uint64_t present = 0;
  if (!streams.empty()) {
    for (const auto& [seq, n] : streams.begin()->second) {
      EXPECT_EQ(n, 1) << "frame " << seq << " has " << n << " lines despite dedup";
      present += seq < must_have;
    }
  }
  EXPECT_EQ(present, must_have) << must_have - present << " acknowledged frame(s) lost; acked " << acked
                                << ", of them before the last output fsync " << acked_at_output_sync.load()
                                << "; the power loss dropped: " << dropped;
  RecordProperty("acked", static_cast<int>(acked));
  RecordProperty("must_have", static_cast<int>(must_have));
  RecordProperty("lines", static_cast<int>(out.lines));
  RecordProperty("replayed", static_cast<int>(replayed));
}

std::vector<CrashPoint> crash_points() {
  const std::string wal = "wal-", out = "out.jsonl";
  std::vector<CrashPoint> points;
  for (std::uint64_t k = 1; k <= 8; ++k) {
    points.push_back({fmt::format("AtWalGroupCommit{}", k), {{Op::kSync, wal, Fault::kCrash, k - 1}}});
    points.push_back({fmt::format("AtOutputCommit{}", k), {{Op::kSync, out, Fault::kCrash, k - 1}}});
  }
  points.push_back({"RightAfterWalGroupCommit4", {{Op::kSync, wal, Fault::kCrashAfter, 3}}});
  // The line is durable, the log does not say so and the producer has no ack: replayed, and
  // dedup keeps it to one line.
  points.push_back({"RightAfterOutputCommit3", {{Op::kSync, out, Fault::kCrashAfter, 2}}});
  points.push_back({"InOutputAppend4", {{Op::kAppend, out, Fault::kCrash, 3}}});
  // A short write, and the process dies before cutting it back: the restart cuts the torn line.
  points.push_back({"TornLineThenProcessCrash",
                    {{Op::kAppend, out, Fault::kShortWrite, 3, 1}, {Op::kTruncate, out, Fault::kCrash, 0}},
                    FsyncPolicy::kAlways,
                    64ull << 20,
                    false});
  // Opening a new segment: the first open is at start, so after=2 is the second roll.
  points.push_back({"AtWalRoll", {{Op::kOpen, wal, Fault::kCrash, 2}}, FsyncPolicy::kAlways, kSmallSegment});
  points.push_back(
      {"RightAfterWalRoll", {{Op::kOpen, wal, Fault::kCrashAfter, 2}}, FsyncPolicy::kAlways, kSmallSegment});
  points.push_back(
      {"AtWalSegmentDelete", {{Op::kRemove, wal, Fault::kCrash, 0}}, FsyncPolicy::kAlways, kSmallSegment});
  // Deleted, but the directory not synced yet: the power loss brings the segment back.
  points.push_back({"RightAfterWalSegmentDelete",
                    {{Op::kRemove, wal, Fault::kCrashAfter, 0}},
                    FsyncPolicy::kAlways,
                    kSmallSegment});
  for (auto policy : {FsyncPolicy::kInterval, FsyncPolicy::kNever}) {
    const std::string name = policy == FsyncPolicy::kInterval ? "Interval" : "Never";
    points.push_back({name + "ProcessCrashAtOutputFlush5",
                      {{Op::kFlush, out, Fault::kCrash, 4}},
                      policy,
                      64ull << 20,
                      false});
    points.push_back({name + "PowerLossAtOutputFlush5", {{Op::kFlush, out, Fault::kCrash, 4}}, policy});
  }
  return points;
}

INSTANTIATE_TEST_SUITE_P(CrashPoints, PowerLossTest, ::testing::ValuesIn(crash_points()),
                         [](const ::testing::TestParamInfo<CrashPoint>& info) { return info.param.name; });

// fsync=interval documents a window of at most fsync_interval: a frame acknowledged longer ago
// than that survives a power loss, even when no frame follows it.
TEST(PowerLossWindow, IntervalPolicyLosesNothingAcknowledgedMoreThanAnIntervalAgo) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& frames = fashion_frames(30);
  ScratchDir dir("interval-window");
  FaultFileSystem fs(dir.path + "/trash");
  auto config = durable_config(dir.path, &fs, /*dedup=*/true, /*wal=*/true);
  config.fsync = FsyncPolicy::kInterval;
  config.fsync_interval = 100ms;
  auto pipeline = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(pipeline);
  auto producer = ProducerThread::acked(frames, listen_port(*pipeline), 0.0);
  const auto sent = producer->wait(30s);
  ASSERT_TRUE(sent.has_value() && *sent);
  ASSERT_EQ(producer->progress(), 30u);
  // Ten intervals of quiet: the bound has a 10x margin for a loaded machine.
  std::this_thread::sleep_for(1s);
  fs.crash();
  (void)pipeline->stop(200ms);
  pipeline.reset();
  const auto dropped = fs.power_loss();
  auto restarted = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(restarted);
  ASSERT_TRUE(restarted->stop(30s));
  restarted.reset();
  const auto streams = read_output(config.output).producer_streams();
  ASSERT_EQ(streams.size(), 1u) << "the power loss dropped: " << dropped;
  EXPECT_EQ(streams.begin()->second.size(), 30u) << "the power loss dropped: " << dropped;
}

}  // namespace
}  // namespace sluice::test
