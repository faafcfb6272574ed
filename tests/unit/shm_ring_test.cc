// The shm-ring transport and the shm-ring plugin in process: order, out-of-order release, a full
// ring, geometry checks, one producer at a time, redelivery of frames never released, and
// zero-copy delivery into sluice (slots stay taken until sluice drops the frames).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include <fmt/format.h>

#include "shm_ring.h"
#include "source/plugin_library.h"
#include "source/plugin_source.h"
#include "support/fake_frame_sink.h"

namespace sluice::shm_ring {
namespace {
using namespace std::chrono_literals;
constexpr auto kGenerous = 20s;

std::string unique_ring(const std::string& tag) {
  static int counter = 0;
  return fmt::format("/sluice-test-{}-{}-{}", tag, ::getpid(), ++counter);
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::uint64_t free_index_of(SharedRing& ring) {
  return std::atomic_ref<std::uint64_t>(ring.header().free_index).load();
}

class ShmRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = unique_ring("ring");
    auto ring = SharedRing::create_or_open(name_, {4, 64});
    ASSERT_TRUE(ring) << ring.status().message();
    consumer_ring_ = std::move(*ring);
    consumer_ring_->unlink_on_close(true);
    auto producer_ring = SharedRing::open(name_);
    ASSERT_TRUE(producer_ring) << producer_ring.status().message();
    producer_ring_ = std::move(*producer_ring);
  }
  std::string name_;
  std::unique_ptr<SharedRing> consumer_ring_, producer_ring_;
};

TEST_F(ShmRingTest, FramesArriveInOrderWithNameAndBytes) {
  RingProducer producer(*producer_ring_);
  ASSERT_TRUE(producer.attach());
  RingConsumer consumer(*consumer_ring_);
  EXPECT_EQ(consumer.wait(1ms), 0u);
  ASSERT_TRUE(producer.push("first", bytes_of("hello"), 1s));
  ASSERT_TRUE(producer.push("second", bytes_of(""), 1s));
  ASSERT_EQ(consumer.wait(kGenerous / 1), 2u);
  const auto& slot = consumer_ring_->slot(consumer.read_index());
  EXPECT_EQ(std::string(slot.name), "first");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(consumer_ring_->payload(0)), slot.size), "hello");
  EXPECT_EQ(consumer_ring_->slot(1).size, 0u);
  EXPECT_EQ(std::string(consumer_ring_->slot(1).name, 6), "second");
}

TEST_F(ShmRingTest, WrittenSlotsAreInvisibleUntilPublished) {
  RingProducer producer(*producer_ring_);
  RingConsumer consumer(*consumer_ring_);
  ASSERT_TRUE(producer.write("a", bytes_of("1"), 1s));
  EXPECT_EQ(consumer.wait(1ms), 0u);
  producer.publish();
  EXPECT_EQ(consumer.wait(1ms), 1u);
}

TEST_F(ShmRingTest, OutOfOrderReleaseFreesOnlyTheReleasedPrefix) {
  RingProducer producer(*producer_ring_);
  RingConsumer consumer(*consumer_ring_);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(producer.push(std::to_string(i), bytes_of("x"), 1s));
  ASSERT_EQ(consumer.wait(1s), 4u);
  consumer.advance(4);
  consumer.release(2);
  consumer.release(1);
  EXPECT_EQ(free_index_of(*producer_ring_), 0u) << "slot 0 is still held";
  consumer.release(0);
  EXPECT_EQ(free_index_of(*producer_ring_), 3u) << "0, 1 and 2 free at once";
  consumer.release(3);
  EXPECT_EQ(free_index_of(*producer_ring_), 4u);
  EXPECT_EQ(consumer.free_index(), 4u);
}

TEST_F(ShmRingTest, FullRingMakesTheProducerWaitAndFailAfterItsTimeout) {
  RingProducer producer(*producer_ring_);
  RingConsumer consumer(*consumer_ring_);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(producer.push(std::to_string(i), bytes_of("x"), 1s));
  const Status full = producer.push("4", bytes_of("x"), 30ms);  // nobody frees: it must fail
  ASSERT_FALSE(full);
  EXPECT_EQ(full.code(), Code::kClosed);
  consumer.advance(consumer.wait(1s));
  consumer.release(0);
  EXPECT_TRUE(producer.push("4", bytes_of("x"), 1s)) << "one freed slot is enough";
  EXPECT_EQ(consumer.wait(1s), 1u);
}

TEST_F(ShmRingTest, OversizeFramesAndLongNamesAreRefused) {
  RingProducer producer(*producer_ring_);
  EXPECT_EQ(producer.push("big", bytes_of(std::string(65, 'x')), 1s).code(), Code::kLimit);
  EXPECT_EQ(producer.push(std::string(29, 'n'), bytes_of("x"), 1s).code(), Code::kLimit);
  EXPECT_TRUE(producer.push(std::string(28, 'n'), bytes_of(std::string(64, 'x')), 1s));
}

TEST_F(ShmRingTest, ARingWithAnotherGeometryIsRefused) {
  auto other = SharedRing::create_or_open(name_, {8, 64});
  ASSERT_FALSE(other);
  EXPECT_NE(other.status().message().find("slots=8 slot_bytes=64"), std::string::npos)
      << other.status().message();
  auto same = SharedRing::create_or_open(name_, {4, 64});
  ASSERT_TRUE(same) << same.status().message();
  EXPECT_FALSE((*same)->created());
}

TEST_F(ShmRingTest, OnlyOneLiveProducerAtATime) {
  std::atomic_ref<std::uint32_t>(producer_ring_->header().producer_pid).store(1);  // init: alive
  RingProducer producer(*producer_ring_);
  const Status st = producer.attach();
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("already has a producer (pid 1)"), std::string::npos);
  std::atomic_ref<std::uint32_t>(producer_ring_->header().producer_pid).store(0);
  EXPECT_TRUE(producer.attach());
}

TEST_F(ShmRingTest, FramesTakenButNeverReleasedAreDeliveredAgainToANewConsumer) {
  RingProducer producer(*producer_ring_);
  {
    RingConsumer first(*consumer_ring_);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(producer.push(std::to_string(i), bytes_of("x"), 1s));
    first.advance(first.wait(1s));
    first.release(0);  // 1 and 2 were taken, then the consumer went away
  }
  RingConsumer second(*consumer_ring_);
  EXPECT_EQ(second.read_index(), 1u);
  EXPECT_EQ(second.wait(1s), 2u);
}

TEST(ShmRingNameTest, BadNamesAndGeometriesAreRefused) {
  EXPECT_FALSE(SharedRing::create_or_open("no-slash", {4, 64}));
  EXPECT_FALSE(SharedRing::create_or_open("/a/b", {4, 64}));
  EXPECT_FALSE(SharedRing::create_or_open(unique_ring("geo"), {1, 64}));
  EXPECT_FALSE(SharedRing::create_or_open(unique_ring("geo"), {4, 0}));
  auto absent = SharedRing::open(unique_ring("absent"));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.status().code(), Code::kClosed);
}

// The plugin, loaded as sluice loads it: frames point into the ring, and a slot is freed only when
// sluice drops the frame.
TEST(ShmRingPluginTest, DeliversWithoutCopyAndFreesSlotsWhenSluiceReleasesThem) {
  const auto name = unique_ring("plugin");
  auto library = source::PluginLibrary::load(SLUICE_SHM_RING_PLUGIN);
  ASSERT_TRUE(library) << library.status().to_string();
  auto plugin = source::PluginSource::create(
      *library, {{"ring", name}, {"slots", "64"}, {"slot_bytes", "128"}}, "plugin shm-ring");
  ASSERT_TRUE(plugin) << plugin.status().to_string();
  test::FakeFrameSink sink;
  ASSERT_TRUE((*plugin)->start(sink));
  auto ring = SharedRing::open(name);
  ASSERT_TRUE(ring) << ring.status().message();
  RingProducer producer(**ring);
  ASSERT_TRUE(producer.attach());
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(producer.push(fmt::format("frame-{}", i), bytes_of(fmt::format("p{}", i)), 5s));
  ASSERT_TRUE(sink.wait_for_frames(50, kGenerous));
  {
    const auto frames = sink.frames();  // copies: they hold the slots until this scope ends
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(frames[static_cast<std::size_t>(i)].name, fmt::format("frame-{}", i));
      const auto payload = frames[static_cast<std::size_t>(i)].payload.bytes();
      EXPECT_EQ(std::string(payload.begin(), payload.end()), fmt::format("p{}", i));
    }
    // Zero copy: the frame's payload is the ring's memory. A byte changed through the producer's
    // mapping shows in the frame (the plugin mapped the same pages at another address).
    (*ring)->payload(0)[0] = 'Z';
    EXPECT_EQ(frames[0].payload.data()[0], 'Z');
    (*ring)->payload(0)[0] = 'p';
  }
  EXPECT_EQ(free_index_of(**ring), 0u) << "sluice holds every frame: no slot is free";
  sink.clear();
  // The plugin thread may still hold its last batch for a moment after the sink saw it (until
  // store_many returns), so the final release can come from that thread, just after clear().
  EXPECT_TRUE(test::eventually([&] { return free_index_of(**ring) == 50u; }, kGenerous))
      << "dropping the frames released their slots; free_index=" << free_index_of(**ring);
  (*plugin)->stop();
  plugin->reset();
  EXPECT_FALSE(SharedRing::open(name)) << "the plugin created the ring and removed its name at destroy";
}

TEST(ShmRingPluginTest, RefusesBadConfiguration) {
  auto library = source::PluginLibrary::load(SLUICE_SHM_RING_PLUGIN);
  ASSERT_TRUE(library);
  for (const auto& [config, expect] : std::vector<std::pair<source::PluginConfig, std::string>>{
           {{}, "ring=/NAME is required"},
           {{{"ring", "/r"}, {"slots", "1"}}, "bad value slots=1"},
           {{{"ring", "/r"}, {"colour", "red"}}, "unknown key 'colour'"},
           {{{"ring", "no-slash"}}, "must look like /name"}}) {
    auto plugin = source::PluginSource::create(*library, config, "plugin shm-ring");
    ASSERT_FALSE(plugin) << expect;
    EXPECT_NE(plugin.status().message().find(expect), std::string::npos) << plugin.status().message();
  }
}

}  // namespace
}  // namespace sluice::shm_ring
