// Durability under a failing output: the whole pipeline in this process (the real Fashion-MNIST
// model, real loopback sockets, the real producers), its output behind a fault-injecting file
// system. Whatever the fault, every frame the producer sent ends with exactly one line (with
// dedup; at least one without), the counts the pipeline reports equal the lines in the file,
// and while the output cannot be written the pipeline says so and accepts nothing new.
//
// Time bounds: waits are for events (a fault seen, a producer done) and give up after seconds
// that are 10-100x what they take on a loaded 2-core machine; none is a measured threshold.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <string>
#include <thread>

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
// 60 frames/s: the 120 frames take 2 s, so the fault (at the second output append) meets a
// producer that still has frames to send, even when a slow machine (ASan, a busy CPU) holds the
// first batch for 0.6 s: at 150 frames/s the producer once finished before the fault showed.
constexpr double kRate = 60.0;

enum class Mode { kNoSpace, kIoError, kShortWrite, kFailedFlush, kFailedSync };

struct DiskFull {
  Mode mode;
  bool dedup;
  bool restart;  // stop and restart while the fault lasts; otherwise clear it while running
};

std::string mode_name(Mode m) {
  switch (m) {
    case Mode::kNoSpace:
      return "EnospcOnAppend";
    case Mode::kIoError:
      return "EioOnAppend";
    case Mode::kShortWrite:
      return "ShortWrite";
    case Mode::kFailedFlush:
      return "FailedFlush";
    case Mode::kFailedSync:
      return "FailedFsync";
  }
  return "?";
}

FaultFileSystem::Rule rule_for(Mode m) {
  // Two commits of the output succeed, then every one fails until the rule is cleared.
  switch (m) {
    case Mode::kNoSpace:
      return {Op::kAppend, "out.jsonl", Fault::kNoSpace, 2};
    case Mode::kIoError:
      return {Op::kAppend, "out.jsonl", Fault::kIoError, 2};
    case Mode::kShortWrite:
      return {Op::kAppend, "out.jsonl", Fault::kShortWrite, 2};
    case Mode::kFailedFlush:
      return {Op::kFlush, "out.jsonl", Fault::kIoError, 2};
    case Mode::kFailedSync:
      return {Op::kSync, "out.jsonl", Fault::kIoError, 2};
  }
  return {};
}

std::string reason_for(Mode m) {
  return m == Mode::kNoSpace || m == Mode::kShortWrite ? "No space left on device" : "Input/output error";
}

// Lines a pipeline says it wrote: prediction and error lines.
std::uint64_t lines_counted(Pipeline& p) {
  const auto& m = p.view().context.metrics();
  return m.frames_succeeded.load() + m.frames_failed.load();
}

std::uint64_t lines_in_status(const Pipeline& p) {
  const auto s = status(p);
  return s["frames"]["processed"].get<std::uint64_t>() + s["frames"]["failed"].get<std::uint64_t>();
}

class DiskFullTest : public ::testing::TestWithParam<DiskFull> {};

TEST_P(DiskFullTest, EveryFrameEndsWithItsLineAndTheCountsMatchTheFile) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto param = GetParam();
  const auto& frames = fashion_frames(kFrames);
  ScratchDir dir("diskfull");
  FaultFileSystem fs(dir.path + "/trash");
  const auto config = durable_config(dir.path, &fs, param.dedup, /*wal=*/true);

  auto first = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(first);
  const auto port = listen_port(*first);
  const int rule = fs.add_rule(rule_for(param.mode));
  auto producer = ProducerThread::acked(frames, port, kRate);

  // The fault shows: the output is reported not ok, with the system's reason.
  ASSERT_TRUE(wait_until([&] { return status(*first)["output"]["ok"] == false; }, 20s))
      << "the fault never showed; faults injected: " << fs.faults();
  const auto during = status(*first);
  EXPECT_NE(during["output"]["error"].get<std::string>().find(reason_for(param.mode)), std::string::npos)
      << during["output"].dump();
  EXPECT_GT(during["output"]["lines_waiting"].get<std::uint64_t>(), 0u);
  // Nothing new is accepted while it lasts. Frames whose memory was reserved before the pause may
  // still finish arriving: 500 ms is many times a loopback read and a WAL group commit. The frames
  // the producer sends meanwhile wait in the paused connection's socket, so the window can be long.
  std::this_thread::sleep_for(500ms);
  const auto received = status(*first)["frames"]["received"].get<std::uint64_t>();
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(status(*first)["frames"]["received"].get<std::uint64_t>(), received)
      << "frames were accepted while the output could not be written";
  EXPECT_LT(received, kFrames) << "the producer must still have had frames to send";
  EXPECT_EQ(status(*first)["output"]["ok"], false);

  std::uint64_t counted = 0;
  std::unique_ptr<Pipeline> last;
  if (param.restart) {
    const auto st = first->stop(300ms);
    ASSERT_FALSE(st) << "frames were waiting for a line";
    EXPECT_EQ(st.code(), Code::kIo);
    EXPECT_NE(st.message().find("have no result"), std::string::npos) << st.message();
    counted += lines_counted(*first);
    EXPECT_EQ(lines_in_status(*first), lines_counted(*first));
    first.reset();
    fs.clear_rules();
    // Same log, same output, same port: the producer reconnects and re-sends what is not acked.
    last = start_pipeline(config, fmt::format("127.0.0.1:{}", port));
    ASSERT_TRUE(last);
  } else {
    fs.clear_rule(rule);  // space is back: the committer's retry goes through
    last = std::move(first);
  }
  const auto sent = producer->wait(60s);
  ASSERT_TRUE(sent.has_value()) << "the producer did not finish";
  ASSERT_TRUE(*sent) << sent->to_string();
  EXPECT_EQ(producer->progress(), kFrames) << "every frame acknowledged";
  EXPECT_EQ(status(*last)["output"]["ok"], true);
  ASSERT_TRUE(last->stop(20s));
  counted += lines_counted(*last);
  EXPECT_EQ(lines_in_status(*last), lines_counted(*last));

  const auto out = read_output(config.output);
  EXPECT_TRUE(out.all_whole) << "a torn or partial line was left in the output";
  const auto streams = out.producer_streams();
  ASSERT_EQ(streams.size(), 1u);
  const auto& seqs = streams.begin()->second;
  EXPECT_EQ(seqs.size(), kFrames) << "every frame has a line";
  for (std::uint64_t seq = 0; seq < kFrames; ++seq) {
    const auto it = seqs.find(seq);
    ASSERT_NE(it, seqs.end()) << "frame " << seq << " has no line";
    if (param.dedup) {
      EXPECT_EQ(it->second, 1) << "frame " << seq << " has " << it->second << " lines";
    }
  }
  if (param.dedup) {
    EXPECT_EQ(out.lines, kFrames);
  }
  EXPECT_EQ(counted, out.lines) << "the counts reported equal the lines in the file";
  EXPECT_GT(fs.faults(), 0u);
}

std::vector<DiskFull> disk_full_cases() {
  std::vector<DiskFull> cases;
  for (auto mode :
       {Mode::kNoSpace, Mode::kIoError, Mode::kShortWrite, Mode::kFailedFlush, Mode::kFailedSync}) {
    for (bool restart : {false, true}) {
      for (bool dedup : {true, false}) cases.push_back({mode, dedup, restart});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Faults, DiskFullTest, ::testing::ValuesIn(disk_full_cases()),
                         [](const ::testing::TestParamInfo<DiskFull>& info) {
                           return fmt::format("{}{}{}", mode_name(info.param.mode),
                                              info.param.restart ? "ThenRestart" : "ThenCleared",
                                              info.param.dedup ? "Dedup" : "");
                         });

// A restart with --dedup must not take new frames for duplicates: seed connections are numbered
// by the server, and a restarted server never reuses a number the output (or the log) holds.
void restart_with_dedup(bool wal) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& frames = fashion_frames(10);
  ScratchDir dir("dedup-restart");
  const auto config = durable_config(dir.path, nullptr, /*dedup=*/true, wal);
  std::uint64_t suppressed = 0;
  for (int run = 0; run < 2; ++run) {
    auto p = start_pipeline(config, "127.0.0.1:0");
    ASSERT_TRUE(p);
    auto producer = ProducerThread::plain(frames, listen_port(*p));
    const auto sent = producer->wait(30s);
    ASSERT_TRUE(sent.has_value() && *sent) << "run " << run;
    // The plain producer returns once the server has read everything; the lines follow.
    ASSERT_TRUE(wait_until(
        [&] { return lines_counted(*p) + p->view().context.metrics().duplicates_suppressed >= 10; }, 20s));
    ASSERT_TRUE(p->stop(20s));
    suppressed += p->view().context.metrics().duplicates_suppressed.load();
    EXPECT_EQ(lines_counted(*p), 10u) << "run " << run << ": every new frame gets its line";
  }
  EXPECT_EQ(suppressed, 0u) << "new frames were taken for duplicates";
  const auto out = read_output(config.output);
  EXPECT_EQ(out.lines, 20u);
  EXPECT_EQ(out.keys.size(), 20u);
  std::set<std::uint64_t> streams;
  for (const auto& [key, n] : out.keys) streams.insert(key.first);
  EXPECT_EQ(streams.size(), 2u) << "each run's connection has its own stream id";
}

TEST(RestartWithDedup, NewFramesAfterARestartWithoutALogAreNotDuplicates) {
  restart_with_dedup(false);
}

TEST(RestartWithDedup, NewFramesAfterARestartWithALogAreNotDuplicates) {
  restart_with_dedup(true);
}

// --dedup's record of a stream goes with the stream: a plain connection that closed and whose
// lines are all durable can get no more lines (its id is never reused), so what the index held for
// it is released. 30 connections come and go; the index ends holding at most the last one's
// record, not 30 (160 bytes each, counted against the memory budget).
TEST(DedupMemory, IsReleasedWhenAPlainStreamClosedAndAllItsLinesAreDurable) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& frames = fashion_frames(3);
  ScratchDir dir("dedup-memory");
  const auto config = durable_config(dir.path, nullptr, /*dedup=*/true, /*wal=*/false);
  auto p = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(p);
  constexpr std::uint64_t kStreams = 30;
  for (std::uint64_t i = 0; i < kStreams; ++i) {
    auto producer = ProducerThread::plain(frames, listen_port(*p));
    const auto sent = producer->wait(30s);
    ASSERT_TRUE(sent.has_value() && *sent) << "connection " << i;
    ASSERT_TRUE(wait_until([&] { return lines_counted(*p) >= 3 * (i + 1); }, 20s)) << "connection " << i;
  }
  // A stream closed after its last line is released at the next commit: every stream but the
  // last is gone by now, whatever the timing.
  const auto held = status(*p)["queue"]["budget_held_bytes"].get<std::uint64_t>();
  EXPECT_LE(held, 2u * 160u) << "the dedup index still holds closed streams";
  EXPECT_TRUE(p->stop(20s));
  const auto out = read_output(config.output);
  EXPECT_EQ(out.lines, 3 * kStreams);
  EXPECT_EQ(out.keys.size(), 3 * kStreams) << "every frame once";
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// A full disk under the write-ahead log: frames wait (nothing is accepted or acknowledged that
// the log does not hold), and all get their line once space is back.
TEST(WalDiskFull, FramesWaitWhileTheLogCannotBeWrittenAndAllGetTheirLineAfter) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& frames = fashion_frames(kFrames);
  ScratchDir dir("wal-full");
  FaultFileSystem fs(dir.path + "/trash");
  const auto config = durable_config(dir.path, &fs, /*dedup=*/true, /*wal=*/true);
  auto p = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(p);
  const int rule = fs.add_rule({Op::kAppend, "wal-", Fault::kNoSpace, 2});
  auto producer = ProducerThread::acked(frames, listen_port(*p), kRate);
  ASSERT_TRUE(wait_until([&] { return status(*p)["wal_ok"] == false; }, 20s));
  std::this_thread::sleep_for(300ms);
  const auto received = status(*p)["frames"]["received"].get<std::uint64_t>();
  const auto acked = producer->progress();
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(status(*p)["frames"]["received"].get<std::uint64_t>(), received);
  EXPECT_EQ(producer->progress(), acked) << "frames the log does not hold were acknowledged";
  EXPECT_LT(acked, kFrames);
  fs.clear_rule(rule);
  const auto sent = producer->wait(60s);
  ASSERT_TRUE(sent.has_value() && *sent);
  ASSERT_TRUE(p->stop(20s));
  const auto out = read_output(config.output);
  const auto streams = out.producer_streams();
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_EQ(streams.begin()->second.size(), kFrames);
  EXPECT_EQ(out.lines, kFrames);
  EXPECT_EQ(lines_counted(*p), out.lines);
}

// stop() has a deadline; a log that cannot be written must not hold it (or a blocked submit())
// past it.
TEST(WalDiskFull, StopReturnsWhileTheLogCannotBeWritten) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& frames = fashion_frames(1);
  ScratchDir dir("wal-full-stop");
  FaultFileSystem fs(dir.path + "/trash");
  auto config = durable_config(dir.path, &fs, /*dedup=*/true, /*wal=*/true);
  config.submit = true;
  auto p = start_pipeline(config, "127.0.0.1:0");
  ASSERT_TRUE(p);
  fs.add_rule({Op::kAppend, "wal-", Fault::kNoSpace});
  auto submitted = std::async(std::launch::async, [&] { return p->submit("f", frames.frames[0].payload); });
  ASSERT_TRUE(wait_until([&] { return status(*p)["wal_ok"] == false; }, 20s));
  auto stopped = std::async(std::launch::async, [&] { return p->stop(500ms); });
  // 10 s: twenty times the deadline given.
  const bool returned = stopped.wait_for(10s) == std::future_status::ready;
  if (!returned) fs.clear_rules();  // let it finish rather than hang the test
  EXPECT_TRUE(returned) << "stop(500 ms) did not return while the log could not be written";
  (void)stopped.get();
  const auto st = submitted.get();
  EXPECT_FALSE(st) << "a frame the log never held was accepted";
}

}  // namespace
}  // namespace sluice::test
