// Tests for the engine's building blocks: the memory budget, block generation and storage, the task
// queue and the interval scheduler. Waits are bounded and generous; nothing asserts on timing
// beyond "has not happened yet" for a blocked call.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/block_generator.h"
#include "engine/block_store.h"
#include "engine/interval_scheduler.h"
#include "engine/memory_budget.h"
#include "engine/task_queue.h"
#include "sluice/frame.h"

namespace sluice::engine {
namespace {

using namespace std::chrono_literals;

constexpr auto kBlockedFor = 50ms;  // how long a blocked call must stay blocked
constexpr auto kGenerous = 10s;     // how long a call that should finish may take

Frame make_frame(std::uint64_t stream, std::uint64_t seq, std::size_t bytes) {
  Frame frame;
  frame.stream = stream;
  frame.seq = seq;
  frame.name = std::to_string(seq);
  frame.name.insert(0, 1, 'f');
  frame.payload = Payload(std::vector<std::uint8_t>(bytes, static_cast<std::uint8_t>(seq)));
  frame.arrival = Clock::now();
  return frame;
}

// ---- MemoryBudget ----

TEST(MemoryBudgetTest, AcquireAndReleaseTrackHeldBytes) {
  MemoryBudget budget(100);
  EXPECT_EQ(budget.limit(), 100u);
  EXPECT_EQ(budget.held(), 0u);
  EXPECT_TRUE(budget.acquire(40));
  EXPECT_TRUE(budget.acquire(60));  // exactly the limit fits
  EXPECT_EQ(budget.held(), 100u);
  budget.release(40);
  EXPECT_EQ(budget.held(), 60u);
  budget.release(60);
  EXPECT_EQ(budget.held(), 0u);
}

TEST(MemoryBudgetTest, AcquireBlocksUntilRelease) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.acquire(80));
  std::atomic<bool> done{false};
  auto waiter = std::async(std::launch::async, [&] {
    const bool ok = budget.acquire(30);
    done = true;
    return ok;
  });
  EXPECT_EQ(waiter.wait_for(kBlockedFor), std::future_status::timeout);
  EXPECT_FALSE(done.load());
  EXPECT_EQ(budget.held(), 80u);

  budget.release(80);
  ASSERT_EQ(waiter.wait_for(kGenerous), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
  EXPECT_TRUE(done.load());
  EXPECT_EQ(budget.held(), 30u);
}

TEST(MemoryBudgetTest, PartialReleaseWakesOnlyWhenTheRequestFits) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.acquire(50));
  ASSERT_TRUE(budget.acquire(50));
  auto waiter = std::async(std::launch::async, [&] { return budget.acquire(60); });
  budget.release(50);  // 50 held: 60 more does not fit
  EXPECT_EQ(waiter.wait_for(kBlockedFor), std::future_status::timeout);
  budget.release(50);
  ASSERT_EQ(waiter.wait_for(kGenerous), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(budget.held(), 60u);
}

TEST(MemoryBudgetTest, ARequestThatCanNeverFitIsRefusedAtOnce) {
  MemoryBudget budget(100);
  EXPECT_FALSE(budget.fits(101));
  EXPECT_TRUE(budget.fits(100));
  EXPECT_FALSE(budget.acquire(1000)) << "refused, not admitted and not left waiting";
  EXPECT_FALSE(budget.try_acquire(1000));
  EXPECT_EQ(budget.held(), 0u);
}

TEST(MemoryBudgetTest, TryAcquireFailsWhenFullAndWakesWhenRoomIsMade) {
  MemoryBudget budget(100);
  std::atomic<int> wakes{0};
  budget.on_room([&] { ++wakes; });
  ASSERT_TRUE(budget.try_acquire(80));
  EXPECT_FALSE(budget.try_acquire(30));
  EXPECT_EQ(wakes.load(), 0);
  budget.release(50);
  EXPECT_EQ(wakes.load(), 1) << "a refused caller is told once room is made";
  EXPECT_TRUE(budget.try_acquire(30));
  budget.release(10);
  EXPECT_EQ(wakes.load(), 1) << "no refusal since the last wake: nobody to tell";
}

TEST(MemoryBudgetTest, ExternalBytesAndAPauseHoldNewRequestsBack) {
  MemoryBudget budget(100);
  budget.set_external(90);
  EXPECT_EQ(budget.held(), 90u);
  EXPECT_FALSE(budget.try_acquire(20));
  budget.set_external(0);
  EXPECT_TRUE(budget.try_acquire(20));
  budget.set_paused(true);
  EXPECT_FALSE(budget.try_acquire(1)) << "paused: nothing new is admitted";
  auto waiter = std::async(std::launch::async, [&] { return budget.acquire(1); });
  EXPECT_EQ(waiter.wait_for(kBlockedFor), std::future_status::timeout);
  budget.set_paused(false);
  ASSERT_EQ(waiter.wait_for(kGenerous), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
}

TEST(MemoryBudgetTest, CloseFailsABlockedAcquire) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.acquire(100));
  auto waiter = std::async(std::launch::async, [&] { return budget.acquire(1); });
  EXPECT_EQ(waiter.wait_for(kBlockedFor), std::future_status::timeout);
  budget.close();
  ASSERT_EQ(waiter.wait_for(kGenerous), std::future_status::ready);
  EXPECT_FALSE(waiter.get());
  EXPECT_EQ(budget.held(), 100u);  // the failed acquire took nothing

  // Later calls fail at once, even when they would fit.
  budget.release(100);
  EXPECT_FALSE(budget.acquire(1));
  EXPECT_EQ(budget.held(), 0u);
}

// ---- BlockGenerator ----

TEST(BlockGeneratorTest, SealWithNothingAppendedIsEmpty) {
  BlockGenerator generator(2);
  EXPECT_FALSE(generator.seal(1, Clock::now()).has_value());
}

TEST(BlockGeneratorTest, SealCutsFramesInOrderWithTheirBytes) {
  BlockGenerator generator(2);
  generator.append(make_frame(7, 0, 10));
  generator.append(make_frame(7, 1, 20));
  generator.append(make_frame(7, 2, 5));
  const auto now = Clock::now();
  auto block = generator.seal(42, now);
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(block->id, 42u);
  EXPECT_EQ(block->source, 2u);
  EXPECT_EQ(block->sealed, now);
  EXPECT_EQ(block->bytes, 35u);
  ASSERT_EQ(block->frames.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(block->frames[i].stream, 7u);
    EXPECT_EQ(block->frames[i].seq, i);
  }
  EXPECT_EQ(block->frames[1].payload.size(), 20u);
  EXPECT_EQ(block->frames[1].payload.data()[0], 1);

  // The next block starts empty, with its own byte count.
  EXPECT_FALSE(generator.seal(43, Clock::now()).has_value());
  generator.append(make_frame(7, 3, 8));
  auto next = generator.seal(44, Clock::now());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->bytes, 8u);
  ASSERT_EQ(next->frames.size(), 1u);
  EXPECT_EQ(next->frames[0].seq, 3u);
}

// ---- BlockStore ----

Block make_block(std::uint64_t id, std::size_t bytes) {
  Block block;
  block.id = id;
  block.bytes = bytes;
  block.frames.push_back(make_frame(0, id, bytes));
  return block;
}

TEST(BlockStoreTest, TakeAllReturnsBlocksInArrivalOrder) {
  BlockStore store;
  EXPECT_EQ(store.blocks(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_TRUE(store.take_all().empty());

  store.put(make_block(3, 30));
  store.put(make_block(1, 10));
  store.put(make_block(2, 5));
  EXPECT_EQ(store.blocks(), 3u);
  EXPECT_EQ(store.bytes(), 45u);

  const auto blocks = store.take_all();
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].id, 3u);
  EXPECT_EQ(blocks[1].id, 1u);
  EXPECT_EQ(blocks[2].id, 2u);
  EXPECT_EQ(blocks[0].frames.size(), 1u);
  EXPECT_EQ(store.blocks(), 0u);
  EXPECT_EQ(store.bytes(), 0u);
  EXPECT_TRUE(store.take_all().empty());

  store.put(make_block(4, 7));
  EXPECT_EQ(store.bytes(), 7u);
  EXPECT_EQ(store.take_all().size(), 1u);
}

// ---- TaskQueue ----

TEST(TaskQueueTest, PopsInFifoOrder) {
  TaskQueue<int> queue;
  queue.push(1);
  queue.push(2);
  queue.push(3);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue.pop(), 1);
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), 3);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TaskQueueTest, CloseDrainsQueuedItemsThenReturnsNullopt) {
  TaskQueue<std::string> queue;
  queue.push("a");
  queue.push("b");
  queue.close();
  EXPECT_EQ(queue.pop(), std::optional<std::string>("a"));
  EXPECT_EQ(queue.pop(), std::optional<std::string>("b"));
  EXPECT_EQ(queue.pop(), std::nullopt);
  EXPECT_EQ(queue.pop(), std::nullopt);
}

TEST(TaskQueueTest, PopBlocksUntilPush) {
  TaskQueue<int> queue;
  auto consumer = std::async(std::launch::async, [&] { return queue.pop(); });
  EXPECT_EQ(consumer.wait_for(kBlockedFor), std::future_status::timeout);
  queue.push(9);
  ASSERT_EQ(consumer.wait_for(kGenerous), std::future_status::ready);
  EXPECT_EQ(consumer.get(), 9);
}

TEST(TaskQueueTest, CloseWakesBlockedConsumers) {
  TaskQueue<int> queue;
  auto a = std::async(std::launch::async, [&] { return queue.pop(); });
  auto b = std::async(std::launch::async, [&] { return queue.pop(); });
  EXPECT_EQ(a.wait_for(kBlockedFor), std::future_status::timeout);
  queue.close();
  ASSERT_EQ(a.wait_for(kGenerous), std::future_status::ready);
  ASSERT_EQ(b.wait_for(kGenerous), std::future_status::ready);
  EXPECT_EQ(a.get(), std::nullopt);
  EXPECT_EQ(b.get(), std::nullopt);
}

TEST(TaskQueueTest, ManyProducersAndConsumersDeliverEachItemOnce) {
  TaskQueue<int> queue;
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 2500;
  std::mutex mu;
  std::vector<int> seen;
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.emplace_back([&] {
      while (auto item = queue.pop()) {
        std::lock_guard lock(mu);
        seen.push_back(*item);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) queue.push(p * kPerProducer + i);
    });
  }
  for (auto& t : producers) t.join();
  queue.close();
  for (auto& t : consumers) t.join();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kProducers * kPerProducer));
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < kProducers * kPerProducer; ++i) ASSERT_EQ(seen[static_cast<std::size_t>(i)], i);
}

// ---- IntervalScheduler ----

// Collects what the scheduler submits.
struct BatchCollector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<Block>> batches;
  std::vector<Clock::time_point> times;

  IntervalScheduler::SubmitBatch callback() {
    return [this](std::vector<Block> blocks, Clock::time_point time) {
      {
        std::lock_guard lock(mu);
        batches.push_back(std::move(blocks));
        times.push_back(time);
      }
      cv.notify_all();
    };
  }
};

TEST(IntervalSchedulerTest, DeliversEveryFrameExactlyOnce) {
  BlockGenerator generator(0);
  BlockStore store;
  BatchCollector collector;
  IntervalScheduler scheduler(IntervalOptions{60ms, 20ms}, {&generator}, store, collector.callback());
  scheduler.start();

  constexpr std::uint64_t kFrames = 1000;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kFrames; ++i) {
      generator.append(make_frame(1, i, 1 + i % 7));
      if (i % 5 == 4) std::this_thread::sleep_for(1ms);  // about 200 ms in all
    }
  });
  producer.join();
  scheduler.stop();

  std::lock_guard lock(collector.mu);
  ASSERT_FALSE(collector.batches.empty());
  std::vector<std::uint64_t> seqs;
  std::uint64_t last_block_id = 0;
  for (const auto& batch : collector.batches) {
    EXPECT_FALSE(batch.empty()) << "empty batches are not submitted";
    for (const auto& block : batch) {
      EXPECT_GT(block.id, last_block_id) << "block ids increase";
      last_block_id = block.id;
      EXPECT_EQ(block.source, 0u);
      EXPECT_FALSE(block.frames.empty());
      std::size_t bytes = 0;
      for (const auto& frame : block.frames) {
        EXPECT_EQ(frame.stream, 1u);
        seqs.push_back(frame.seq);
        bytes += frame.payload.size();
      }
      EXPECT_EQ(block.bytes, bytes);
    }
  }
  // Every frame exactly once, and in order, since one source's blocks are cut in sequence.
  ASSERT_EQ(seqs.size(), kFrames);
  for (std::uint64_t i = 0; i < kFrames; ++i) ASSERT_EQ(seqs[i], i) << "at position " << i;
  for (std::size_t i = 1; i < collector.times.size(); ++i)
    EXPECT_GE(collector.times[i], collector.times[i - 1]);
  EXPECT_EQ(store.blocks(), 0u);
}

TEST(IntervalSchedulerTest, StopSubmitsTheTail) {
  BlockGenerator generator(0);
  BlockStore store;
  BatchCollector collector;
  // Intervals far longer than the test: only stop() can cut a batch.
  IntervalScheduler scheduler(IntervalOptions{1h, 1h}, {&generator}, store, collector.callback());
  scheduler.start();
  for (std::uint64_t i = 0; i < 5; ++i) generator.append(make_frame(3, i, 4));
  scheduler.stop();

  std::lock_guard lock(collector.mu);
  ASSERT_EQ(collector.batches.size(), 1u);
  ASSERT_EQ(collector.batches[0].size(), 1u);
  const Block& block = collector.batches[0][0];
  ASSERT_EQ(block.frames.size(), 5u);
  EXPECT_EQ(block.bytes, 20u);
  EXPECT_EQ(block.frames[4].seq, 4u);
}

TEST(IntervalSchedulerTest, CutsBatchesWhileRunning) {
  BlockGenerator generator(0);
  BlockStore store;
  BatchCollector collector;
  IntervalScheduler scheduler(IntervalOptions{60ms, 20ms}, {&generator}, store, collector.callback());
  scheduler.start();
  generator.append(make_frame(1, 0, 3));
  {
    std::unique_lock lock(collector.mu);
    EXPECT_TRUE(collector.cv.wait_for(lock, kGenerous, [&] { return !collector.batches.empty(); }))
        << "no batch was cut while the scheduler ran";
  }
  scheduler.stop();
  std::lock_guard lock(collector.mu);
  std::size_t frames = 0;
  for (const auto& batch : collector.batches) {
    for (const auto& block : batch) frames += block.frames.size();
  }
  EXPECT_EQ(frames, 1u);
}

TEST(IntervalSchedulerTest, SeveralSourcesEachGetTheirOwnBlocks) {
  BlockGenerator a(0);
  BlockGenerator b(1);
  BlockStore store;
  BatchCollector collector;
  IntervalScheduler scheduler(IntervalOptions{1h, 1h}, {&a, &b}, store, collector.callback());
  scheduler.start();
  a.append(make_frame(10, 0, 1));
  b.append(make_frame(20, 0, 2));
  b.append(make_frame(20, 1, 2));
  scheduler.stop();

  std::lock_guard lock(collector.mu);
  ASSERT_EQ(collector.batches.size(), 1u);
  const auto& batch = collector.batches[0];
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].source, 0u);
  EXPECT_EQ(batch[0].frames.size(), 1u);
  EXPECT_EQ(batch[1].source, 1u);
  EXPECT_EQ(batch[1].frames.size(), 2u);
  EXPECT_NE(batch[0].id, batch[1].id);
}

TEST(IntervalSchedulerTest, NothingAppendedSubmitsNothing) {
  BlockGenerator generator(0);
  BlockStore store;
  BatchCollector collector;
  {
    IntervalScheduler scheduler(IntervalOptions{30ms, 10ms}, {&generator}, store, collector.callback());
    scheduler.start();
    std::this_thread::sleep_for(100ms);
    scheduler.stop();
    scheduler.stop();  // a second stop is harmless
  }
  std::lock_guard lock(collector.mu);
  EXPECT_TRUE(collector.batches.empty());
}

TEST(IntervalSchedulerTest, DestructorStopsAndFlushes) {
  BlockGenerator generator(0);
  BlockStore store;
  BatchCollector collector;
  {
    IntervalScheduler scheduler(IntervalOptions{1h, 1h}, {&generator}, store, collector.callback());
    scheduler.start();
    generator.append(make_frame(1, 0, 1));
  }
  std::lock_guard lock(collector.mu);
  ASSERT_EQ(collector.batches.size(), 1u);
  EXPECT_EQ(collector.batches[0].at(0).frames.size(), 1u);
}

}  // namespace
}  // namespace sluice::engine
