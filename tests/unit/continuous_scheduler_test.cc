// Continuous mode: Triton's dynamic-batching rule, "full, or the oldest waited max_delay".
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/continuous_scheduler.h"

namespace sluice::engine {
namespace {
using namespace std::chrono_literals;

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::size_t> batch_sizes;
  void submit(std::vector<Block> blocks, Clock::time_point) {
    std::size_t n = 0;
    for (const auto& b : blocks) n += b.frames.size();
    {
      std::lock_guard lock(mu);
      batch_sizes.push_back(n);
    }
    cv.notify_all();
  }
  bool wait_batches(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return batch_sizes.size() >= count; });
  }
  std::size_t batches() {
    std::lock_guard lock(mu);
    return batch_sizes.size();
  }
};

Frame frame(std::uint64_t seq) {
  Frame f;
  f.seq = seq;
  f.arrival = Clock::now();
  return f;
}

TEST(ContinuousSchedulerTest, AFullBatchLeavesAtOnce) {
  BlockGenerator gen(0);
  BlockStore store;
  Collector out;
  // A long max_delay: only fullness can cut the batch within the test's wait.
  ContinuousScheduler s(
      {8, std::chrono::seconds(60)}, {&gen}, store,
      [&](std::vector<Block> b, Clock::time_point t) { out.submit(std::move(b), t); }, [] { return false; });
  s.start();
  for (int i = 0; i < 8; ++i) gen.append(frame(static_cast<std::uint64_t>(i)));
  s.frames_arrived();
  ASSERT_TRUE(out.wait_batches(1, 10s));
  EXPECT_EQ(out.batch_sizes[0], 8u);
  s.stop();
}

TEST(ContinuousSchedulerTest, APartialBatchLeavesAfterMaxDelay) {
  BlockGenerator gen(0);
  BlockStore store;
  Collector out;
  ContinuousScheduler s(
      {64, 20ms}, {&gen}, store,
      [&](std::vector<Block> b, Clock::time_point t) { out.submit(std::move(b), t); }, [] { return false; });
  s.start();
  const auto start = Clock::now();
  gen.append(frame(0));
  gen.append(frame(1));
  s.frames_arrived();
  ASSERT_TRUE(out.wait_batches(1, 10s));
  EXPECT_GE(Clock::now() - start, 20ms) << "a partial batch waits for max_delay";
  EXPECT_EQ(out.batch_sizes[0], 2u);
  s.stop();
}

TEST(ContinuousSchedulerTest, BusyExecutorsLetAPartialBatchKeepFilling) {
  BlockGenerator gen(0);
  BlockStore store;
  Collector out;
  std::atomic<bool> busy{true};
  ContinuousScheduler s(
      {64, 1ms}, {&gen}, store,
      [&](std::vector<Block> b, Clock::time_point t) { out.submit(std::move(b), t); },
      [&] { return busy.load(); });
  s.start();
  gen.append(frame(0));
  s.frames_arrived();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(out.batches(), 0u) << "no executor is free: the frame keeps waiting for company";
  gen.append(frame(1));
  busy = false;
  s.frames_arrived();
  ASSERT_TRUE(out.wait_batches(1, 10s));
  EXPECT_EQ(out.batch_sizes[0], 2u);
  s.stop();
}

TEST(ContinuousSchedulerTest, StopCutsTheFramesStillWaiting) {
  BlockGenerator gen(0);
  BlockStore store;
  Collector out;
  ContinuousScheduler s(
      {64, std::chrono::seconds(60)}, {&gen}, store,
      [&](std::vector<Block> b, Clock::time_point t) { out.submit(std::move(b), t); }, [] { return true; });
  s.start();
  for (int i = 0; i < 3; ++i) gen.append(frame(static_cast<std::uint64_t>(i)));
  s.stop();
  ASSERT_EQ(out.batches(), 1u);
  EXPECT_EQ(out.batch_sizes[0], 3u);
}

}  // namespace
}  // namespace sluice::engine
