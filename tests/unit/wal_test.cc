// Write-ahead log, its record codec, and the deduplicating result sink.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "engine/stream_id_allocator.h"
#include "sink/dedup_index.h"
#include "sink/json_lines_sink.h"
#include "store/wal_record.h"
#include "store/write_ahead_log.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace sluice::store {
namespace {
namespace stdfs = std::filesystem;

Frame make_frame(std::uint64_t stream, std::uint64_t seq, std::size_t bytes = 100) {
  Frame f;
  f.stream = stream;
  f.seq = seq;
  f.name = fmt::format("f{}-{}", stream, seq);
  std::vector<std::uint8_t> payload(bytes);
  for (std::size_t i = 0; i < bytes; ++i) payload[i] = static_cast<std::uint8_t>(seq + i);
  f.payload = Payload(std::move(payload));
  return f;
}

std::vector<Frame> make_frames(std::uint64_t stream, std::uint64_t first, std::size_t n,
                               std::size_t bytes = 100) {
  std::vector<Frame> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(make_frame(stream, first + i, bytes));
  return out;
}

std::vector<Frame> replay_all(WriteAheadLog& wal) {
  std::vector<Frame> out;
  EXPECT_TRUE(wal.replay([&](Frame f) {
    out.push_back(std::move(f));
    return Status::ok();
  }));
  return out;
}

std::size_t segment_files(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : stdfs::directory_iterator(dir)) n += e.path().extension() == ".log";
  return n;
}

TEST(WalRecordTest, FrameRoundTrips) {
  std::vector<std::uint8_t> bytes;
  append_frame_record(make_frame(7, 3, 50), 42, bytes);
  std::size_t used = 0;
  auto rec = decode_wal_record(bytes, used);
  ASSERT_TRUE(rec) << rec.status().to_string();
  EXPECT_EQ(used, bytes.size());
  const auto& f = std::get<WalFrame>(*rec);
  EXPECT_EQ(f.lsn, 42u);
  EXPECT_EQ(f.stream, 7u);
  EXPECT_EQ(f.seq, 3u);
  EXPECT_EQ(f.name, "f7-3");
  ASSERT_EQ(f.payload.size(), 50u);
  EXPECT_EQ(f.payload[1], 4);
}

TEST(WalRecordTest, DoneRoundTrips) {
  std::vector<std::uint8_t> bytes;
  const std::vector<std::uint64_t> lsns{1, 5, 9000000000ull};
  append_done_record(lsns, bytes);
  std::size_t used = 0;
  auto rec = decode_wal_record(bytes, used);
  ASSERT_TRUE(rec);
  EXPECT_EQ(std::get<WalDone>(*rec).lsns, lsns);
}

TEST(WalRecordTest, RejectsEveryTruncationAndAFlippedBit) {
  std::vector<std::uint8_t> bytes;
  append_frame_record(make_frame(1, 1, 20), 1, bytes);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    std::size_t used = 0;
    auto rec = decode_wal_record(std::span<const std::uint8_t>(bytes.data(), cut), used);
    EXPECT_FALSE(rec) << "cut at " << cut;
  }
  for (std::size_t i = 8; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= 0x10;
    std::size_t used = 0;
    auto rec = decode_wal_record(copy, used);
    ASSERT_FALSE(rec) << "flip at " << i;
    EXPECT_NE(rec.status().message().find("CRC"), std::string::npos);
  }
}

TEST(WalTest, ReplaysExactlyTheFramesWithoutACompletion) {
  const auto dir = test::make_temp_dir("wal");
  std::vector<std::uint64_t> lsns;
  {
    auto wal = WriteAheadLog::open({dir});
    ASSERT_TRUE(wal) << wal.status().to_string();
    EXPECT_EQ((*wal)->pending_recovery(), 0u);
    auto frames = make_frames(9, 0, 10);
    ASSERT_TRUE((*wal)->append(frames));
    for (const auto& f : frames) {
      ASSERT_NE(f.wal_lsn, 0u);
      lsns.push_back(f.wal_lsn);
    }
    EXPECT_TRUE(std::is_sorted(lsns.begin(), lsns.end()));
    // Frames 0..5 have results; 6..9 do not.
    (*wal)->mark_done(std::span<const std::uint64_t>(lsns.data(), 6));
  }
  auto wal = WriteAheadLog::open({dir});
  ASSERT_TRUE(wal);
  EXPECT_EQ((*wal)->pending_recovery(), 4u);
  const auto replayed = replay_all(**wal);
  ASSERT_EQ(replayed.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(replayed[i].stream, 9u);
    EXPECT_EQ(replayed[i].seq, 6 + i);
    EXPECT_EQ(replayed[i].name, fmt::format("f9-{}", 6 + i));
    EXPECT_EQ(replayed[i].wal_lsn, lsns[6 + i]);
    ASSERT_EQ(replayed[i].payload.size(), 100u);
    EXPECT_EQ(replayed[i].payload.data()[0], static_cast<std::uint8_t>(6 + i));
  }
  // New frames continue above the old positions.
  auto more = make_frames(9, 10, 1);
  ASSERT_TRUE((*wal)->append(more));
  EXPECT_GT(more[0].wal_lsn, lsns.back());
}

TEST(WalTest, CutsATornTailAndKeepsEverythingBeforeIt) {
  const auto dir = test::make_temp_dir("wal-torn");
  {
    auto wal = WriteAheadLog::open({dir});
    ASSERT_TRUE(wal);
    auto frames = make_frames(1, 0, 5);
    ASSERT_TRUE((*wal)->append(frames));
  }
  std::string last;
  for (const auto& e : stdfs::directory_iterator(dir)) {
    if (e.path().extension() == ".log" && stdfs::file_size(e.path()) > 0) last = e.path().string();
  }
  ASSERT_FALSE(last.empty());
  const auto good_size = stdfs::file_size(last);
  {
    // Half a record, as a crash in the middle of a write leaves it.
    std::vector<std::uint8_t> partial;
    append_frame_record(make_frame(1, 5), 99, partial);
    std::ofstream out(last, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(partial.data()),
              static_cast<std::streamsize>(partial.size() / 2));
  }
  auto wal = WriteAheadLog::open({dir});
  ASSERT_TRUE(wal) << wal.status().to_string();
  EXPECT_EQ((*wal)->pending_recovery(), 5u);
  EXPECT_EQ(stdfs::file_size(last), good_size);
  EXPECT_EQ(replay_all(**wal).size(), 5u);
}

TEST(WalTest, RollsSegmentsAndDeletesThemOnceDone) {
  const auto dir = test::make_temp_dir("wal-roll");
  auto wal = WriteAheadLog::open({dir, FsyncPolicy::kNever, std::chrono::milliseconds(100), 4096});
  ASSERT_TRUE(wal);
  std::vector<std::uint64_t> lsns;
  for (int group = 0; group < 20; ++group) {
    auto frames = make_frames(3, static_cast<std::uint64_t>(group) * 10, 10, 200);  // ~2.3 KB a group
    ASSERT_TRUE((*wal)->append(frames));
    for (const auto& f : frames) lsns.push_back(f.wal_lsn);
  }
  EXPECT_GT((*wal)->segments(), 5u);
  EXPECT_GT(segment_files(dir), 5u);
  // Completing only the newer half deletes nothing: the oldest segment still has work.
  (*wal)->mark_done(std::span<const std::uint64_t>(lsns).subspan(100));
  EXPECT_GT((*wal)->segments(), 5u);
  (*wal)->mark_done(std::span<const std::uint64_t>(lsns).subspan(0, 100));
  EXPECT_EQ((*wal)->segments(), 1u) << "only the active segment is left";
  EXPECT_EQ(segment_files(dir), 1u);
}

TEST(WalTest, RejectsAnUnknownFsyncPolicy) {
  EXPECT_TRUE(parse_fsync_policy("always"));
  EXPECT_TRUE(parse_fsync_policy("interval"));
  EXPECT_TRUE(parse_fsync_policy("never"));
  auto bad = parse_fsync_policy("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("always, interval, never"), std::string::npos);
}

TEST(WalTest, ConcurrentAppendsAllBecomeDurableWithDistinctPositions) {
  const auto dir = test::make_temp_dir("wal-group");
  auto wal = WriteAheadLog::open({dir});
  ASSERT_TRUE(wal);
  std::vector<std::vector<std::uint64_t>> seen(4);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          auto frames = make_frames(static_cast<std::uint64_t>(t), static_cast<std::uint64_t>(i) * 3, 3);
          ASSERT_TRUE((*wal)->append(frames));
          for (const auto& f : frames) seen[static_cast<std::size_t>(t)].push_back(f.wal_lsn);
        }
      });
    }
  }
  std::set<std::uint64_t> all;
  for (const auto& v : seen) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 600u);
  wal->reset();
  auto reopened = WriteAheadLog::open({dir});
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->pending_recovery(), 600u);
}

TEST(DedupIndexTest, AcceptsEachPairOnceInAnyOrder) {
  sink::DedupIndex index;
  EXPECT_TRUE(index.insert(1, 2));
  EXPECT_TRUE(index.insert(1, 0));
  EXPECT_FALSE(index.insert(1, 2));
  EXPECT_TRUE(index.insert(1, 1));
  EXPECT_FALSE(index.insert(1, 0));
  EXPECT_FALSE(index.insert(1, 1));
  EXPECT_TRUE(index.insert(2, 0)) << "streams are independent";
  EXPECT_EQ(index.streams(), 2u);
}

sink::ResultRecord record(std::uint64_t stream, std::uint64_t seq) {
  sink::ResultRecord r;
  r.stream = stream;
  r.seq = seq;
  r.name = "x";
  r.top.push_back({0, "label", 0.5f});
  return r;
}

TEST(JsonLinesSinkTest, DedupCountsLinesAlreadyInTheFileAndCutsATornLine) {
  const auto dir = test::make_temp_dir("dedup");
  const std::string path = dir + "/out.jsonl";
  {
    auto sink = sink::JsonLinesSink::open(path);
    ASSERT_TRUE(sink);
    std::vector<sink::ResultRecord> first{record(5, 0), record(5, 1)};
    ASSERT_TRUE((*sink)->write(first));
    ASSERT_TRUE((*sink)->commit(sink::Durability::kFlushed));
  }
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"stream":5,"seq":2,"na)";  // torn by a crash
  }
  auto sink = sink::JsonLinesSink::open(path, {.append = false, .dedup = true});
  ASSERT_TRUE(sink) << sink.status().to_string();
  std::vector<sink::ResultRecord> again{record(5, 1), record(5, 2), record(5, 2), record(6, 0)};
  ASSERT_TRUE((*sink)->write(again));
  ASSERT_TRUE((*sink)->commit(sink::Durability::kSynced));
  EXPECT_TRUE(again[0].duplicate);
  EXPECT_FALSE(again[1].duplicate);
  EXPECT_TRUE(again[2].duplicate);
  EXPECT_FALSE(again[3].duplicate);
  const auto lines = test::read_lines(path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[2].find(R"("stream":5,"seq":2)"), std::string::npos);
  EXPECT_NE(lines[3].find(R"("stream":6,"seq":0)"), std::string::npos);
}

TEST(JsonLinesSinkTest, DedupNeedsAFile) {
  auto sink = sink::JsonLinesSink::open("-", {.append = false, .dedup = true});
  ASSERT_FALSE(sink);
  EXPECT_NE(sink.status().message().find("output file"), std::string::npos);
}

TEST(StreamIdAllocatorTest, NeverRepeatsAnIdAcrossRestarts) {
  const auto dir = test::make_temp_dir("ids");
  std::set<std::uint64_t> ids;
  for (int run = 0; run < 3; ++run) {
    engine::StreamIdAllocator alloc;
    ASSERT_TRUE(alloc.persist_in(fs::FileSystem::posix(), dir + "/stream-ids"));
    for (int i = 0; i < 1500; ++i) EXPECT_TRUE(ids.insert(*alloc.next()).second);
  }
  EXPECT_EQ(ids.size(), 4500u);
  engine::StreamIdAllocator plain;
  EXPECT_EQ(*plain.next(), 1u);
  EXPECT_EQ(*plain.next(), 2u);
  plain.raise_floor(40);
  EXPECT_EQ(*plain.next(), 41u);
}

}  // namespace
}  // namespace sluice::store
