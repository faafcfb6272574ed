// The Redis scale-out pieces that need no server: URLs, key layout and partitioning, entry ids,
// commands, and parsing a frame entry from a real RESP reply.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <map>
#include <set>

#include "redis/entry_id.h"
#include "redis/frame_entry.h"
#include "redis/inflight_table.h"
#include "redis/redis_command.h"
#include "redis/redis_url.h"
#include "redis/stream_layout.h"

namespace sluice::redis {
namespace {

TEST(RedisUrl, ParsesEveryPart) {
  auto url = parse_redis_url("redis://user:secret@db.example:6380/2");
  ASSERT_TRUE(url) << url.status().to_string();
  EXPECT_EQ(url->host, "db.example");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
  EXPECT_EQ(url->username, "user");
  EXPECT_EQ(url->password, "secret");
  EXPECT_EQ(url->to_string(), "redis://db.example:6380/2") << "no credentials in logs";
}

TEST(RedisUrl, DefaultsAndIpv6) {
  auto bare = parse_redis_url("127.0.0.1");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 6379);
  EXPECT_EQ(bare->db, 0);
  auto v6 = parse_redis_url("redis://[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);
  auto password_only = parse_redis_url("redis://:pw@h");
  ASSERT_TRUE(password_only);
  EXPECT_EQ(password_only->password, "pw");
  EXPECT_TRUE(password_only->username.empty());
}

TEST(RedisUrl, RejectsWhatIsWrongAndSaysWhy) {
  for (const char* bad : {"rediss://h:1", "http://h", "redis://h:0", "redis://h:70000", "redis://h:x",
                          "redis://:6379", "redis://h/abc", "redis://[::1"}) {
    auto url = parse_redis_url(bad);
    EXPECT_FALSE(url) << bad;
    if (!url) {
      EXPECT_NE(url.status().message().find("is not a Redis URL"), std::string::npos);
    }
  }
}

TEST(StreamLayout, KeysCarryOneHashTagPerPartition) {
  StreamLayout layout;
  EXPECT_EQ(layout.frames_key(3), "sluice:frames:{3}");
  EXPECT_EQ(layout.results_key(3), "sluice:results:{3}");
  EXPECT_EQ(layout.dead_key(0), "sluice:dead:{0}");
  EXPECT_TRUE(layout.validate());
  layout.partitions = 0;
  EXPECT_FALSE(layout.validate());
  layout.partitions = 4;
  layout.results_prefix = layout.frames_prefix;
  EXPECT_FALSE(layout.validate());
}

TEST(StreamLayout, PartitionIsStableAndSpreadsSequentialStreams) {
  StreamLayout layout;
  layout.partitions = 8;
  std::map<int, int> counts;
  for (std::uint64_t s = 1; s <= 8000; ++s) {
    const int p = layout.partition_of(s);
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 8);
    EXPECT_EQ(p, layout.partition_of(s)) << "one stream, one partition";
    ++counts[p];
  }
  ASSERT_EQ(counts.size(), 8u);
  for (const auto& [p, n] : counts) {
    EXPECT_GT(n, 800) << "partition " << p;  // 1000 expected each
    EXPECT_LT(n, 1200) << "partition " << p;
  }
}

TEST(EntryId, ParsesAndOrdersAsRedisDoes) {
  const auto a = EntryId::parse("1700000000000-3");
  const auto b = EntryId::parse("1700000000000-12");
  const auto c = EntryId::parse("1700000000001");
  ASSERT_TRUE(a && b && c);
  EXPECT_LT(*a, *b) << "numeric, not lexical";
  EXPECT_LT(*b, *c);
  EXPECT_EQ(c->seq, 0u);
  EXPECT_EQ(a->to_string(), "1700000000000-3");
  EXPECT_FALSE(EntryId::parse("abc"));
  EXPECT_FALSE(EntryId::parse("1-x"));
}

TEST(RedisCommand, ArgumentsStayValidAndBinarySafe) {
  const std::vector<std::uint8_t> payload{0, 1, 0xFF, 0, 7};
  RedisCommand cmd("XADD");
  cmd.add("key");
  for (int i = 0; i < 100; ++i) cmd.add(std::to_string(i));  // enough to move a vector, never a deque
  cmd.add_borrowed(payload).add(std::uint64_t{42});
  RedisCommand moved = std::move(cmd);
  ASSERT_EQ(moved.argc(), 104);
  EXPECT_EQ(std::string(moved.argv()[1], moved.argvlen()[1]), "key");
  EXPECT_EQ(std::string(moved.argv()[101], moved.argvlen()[101]), "99");
  EXPECT_EQ(moved.argvlen()[102], payload.size());
  EXPECT_EQ(moved.argv()[102], reinterpret_cast<const char*>(payload.data())) << "borrowed, not copied";
  EXPECT_EQ(std::string(moved.argv()[103], moved.argvlen()[103]), "42");
  EXPECT_EQ(moved.describe(), "XADD key");
}

// A reply as Redis would send it, through hiredis' own parser.
RedisReply parse_resp(const std::string& bytes) {
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, bytes.data(), bytes.size());
  void* reply = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &reply), REDIS_OK);
  redisReaderFree(reader);
  return RedisReply(static_cast<redisReply*>(reply));
}

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

TEST(FrameEntry, ParsesAnEntryWithoutCopyingItsPayload) {
  const std::string payload("\x89PNG\0\r\n", 7);
  const auto received_us = unix_micros_now() - 250000;  // waited 250 ms in Redis
  const std::string resp = "*2\r\n" + bulk("1700000000000-5") + "*10\r\n" + bulk("stream") +
                           bulk("4294967301") + bulk("seq") + bulk("17") + bulk("name") + bulk("cat.png") +
                           bulk("payload") + bulk(payload) + bulk("t") + bulk(std::to_string(received_us));
  std::shared_ptr<const redisReply> owner(parse_resp(resp));
  ASSERT_TRUE(owner);
  auto entry = parse_frame_entry(*owner, owner);
  ASSERT_TRUE(entry) << entry.status().to_string();
  EXPECT_EQ(entry->id, "1700000000000-5");
  EXPECT_EQ(entry->frame.stream, 4294967301u);
  EXPECT_EQ(entry->frame.seq, 17u);
  EXPECT_EQ(entry->frame.name, "cat.png");
  ASSERT_EQ(entry->frame.payload.size(), payload.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(entry->frame.payload.data()), payload.size()), payload);
  const auto waited = Clock::now() - entry->frame.arrival;
  EXPECT_GE(waited, std::chrono::milliseconds(200)) << "latency counts the time spent in Redis";
  owner.reset();  // the payload keeps the reply alive
  EXPECT_EQ(entry->frame.payload.data()[0], 0x89);
}

TEST(FrameEntry, RejectsAnEntryThatIsNotAFrame) {
  std::shared_ptr<const redisReply> owner(
      parse_resp("*2\r\n" + bulk("1-1") + "*2\r\n" + bulk("hello") + bulk("world")));
  auto entry = parse_frame_entry(*owner, owner);
  ASSERT_FALSE(entry);
  EXPECT_NE(entry.status().message().find("not a sluice frame"), std::string::npos);
}

TEST(InFlightTable, TokensAreUniqueAndHeartbeatsAreDueOncePerInterval) {
  InFlightTable table;
  const auto t0 = Clock::now();
  const auto a = table.add({0, "1-1", 1, t0});
  const auto b = table.add({2, "1-2", 2, t0});
  EXPECT_NE(a, b);
  EXPECT_EQ(table.find(b)->deliveries, 2);
  auto due = table.take_due(t0 + std::chrono::seconds(1), t0 + std::chrono::seconds(1), 4);
  EXPECT_EQ(due[0], std::vector<std::string>{"1-1"});
  EXPECT_EQ(due[2], std::vector<std::string>{"1-2"});
  due = table.take_due(t0 + std::chrono::seconds(1), t0 + std::chrono::seconds(1), 4);
  EXPECT_TRUE(due[0].empty() && due[2].empty()) << "touched just now";
  Frame done;
  done.token = a;
  table.remove(std::span<const Frame>(&done, 1));
  EXPECT_FALSE(table.find(a));
  EXPECT_EQ(table.size(), 1u);
}

}  // namespace
}  // namespace sluice::redis
