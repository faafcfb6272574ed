// Write-ahead log recovery from what a crash, a bad disk or a bit flip leaves: corruption in the
// middle of a segment skips only the bad record, is reported and kept aside (never deleted); a
// torn tail is cut; a record as long as the wire format allows is accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "store/wal_record.h"
#include "store/write_ahead_log.h"
#include "support/child_process.h"
#include "support/durability_harness.h"
#include "support/fault_file_system.h"

namespace sluice::store {
namespace {
namespace stdfs = std::filesystem;
using test::FaultFileSystem;

Frame frame_of(std::uint64_t seq, std::size_t bytes) {
  Frame f;
  f.stream = 7;
  f.seq = seq;
  f.name = fmt::format("frame-{}", seq);
  std::vector<std::uint8_t> payload(bytes);
  for (std::size_t i = 0; i < bytes; ++i) payload[i] = static_cast<std::uint8_t>(seq * 31 + i);
  f.payload = Payload(std::move(payload));
  return f;
}

// Writes `n` frames, one group commit each, none done, then the process "crashes" (the file
// system freezes: not even the log's own shutdown reaches the disk).
void write_frames_and_crash(const std::string& dir, std::size_t n, std::size_t payload, std::size_t segment) {
  FaultFileSystem fs(dir + "-trash");
  auto wal = WriteAheadLog::open({dir, FsyncPolicy::kAlways, std::chrono::milliseconds(100), segment, &fs});
  ASSERT_TRUE(wal) << wal.status().to_string();
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<Frame> one;
    one.push_back(frame_of(i, payload));
    ASSERT_TRUE((*wal)->append(one));
  }
  fs.crash();
}

std::vector<std::string> segments_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : stdfs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("wal-", 0) == 0 && e.path().extension() == ".log") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Offsets and lengths of the records in a segment file.
std::vector<std::pair<std::size_t, std::size_t>> records_of(const std::vector<std::uint8_t>& bytes) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t pos = 0; pos < bytes.size();) {
    std::size_t used = 0;
    auto r = decode_wal_record(std::span<const std::uint8_t>(bytes).subspan(pos), used);
    if (!r) break;
    out.emplace_back(pos, used);
    pos += used;
  }
  return out;
}

std::vector<std::uint8_t> load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void store(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Flips one bit in the middle of record `index` of `path`; returns that record's length.
std::size_t flip_bit_in_record(const std::string& path, std::size_t index) {
  auto bytes = load(path);
  const auto records = records_of(bytes);
  EXPECT_GT(records.size(), index + 1) << "valid records must follow the bad one";
  const auto [offset, length] = records.at(index);
  bytes[offset + length / 2] ^= 0x08;
  store(path, bytes);
  return length;
}

std::map<std::uint64_t, Frame> replay_by_seq(WriteAheadLog& wal, std::vector<std::uint64_t>* lsns = nullptr) {
  std::map<std::uint64_t, Frame> out;
  EXPECT_TRUE(wal.replay([&](Frame f) {
    if (lsns) lsns->push_back(f.wal_lsn);
    const auto seq = f.seq;
    out.emplace(seq, std::move(f));
    return Status::ok();
  }));
  return out;
}

void expect_intact(const std::map<std::uint64_t, Frame>& frames, std::size_t payload) {
  for (const auto& [seq, f] : frames) {
    EXPECT_EQ(f.name, fmt::format("frame-{}", seq));
    const auto expected = frame_of(seq, payload);
    ASSERT_EQ(f.payload.size(), payload);
    EXPECT_TRUE(std::equal(f.payload.data(), f.payload.data() + payload, expected.payload.data()))
        << "frame " << seq << " came back changed";
  }
}

TEST(WalRecoveryTest, ABitFlipInTheLastSegmentLosesOneRecordAndIsKeptAside) {
  test::ScratchDir scratch("wal-flip-last");
  const std::string dir = scratch.path + "/wal";
  write_frames_and_crash(dir, 10, 200, 64u << 20);
  const auto segs = segments_in(dir);
  ASSERT_EQ(segs.size(), 1u);
  const auto size_before = stdfs::file_size(segs[0]);
  const std::size_t bad = flip_bit_in_record(segs[0], 5);

  std::vector<std::uint64_t> lsns;
  {
    auto wal = WriteAheadLog::open({dir});
    ASSERT_TRUE(wal) << wal.status().to_string();
    const auto& r = (*wal)->recovery();
    ASSERT_EQ(r.corrupt_segments.size(), 1u);
    EXPECT_EQ(r.corrupt_segments[0], segs[0]);
    EXPECT_EQ(r.unreadable_bytes, bad) << "exactly the bad record is skipped";
    EXPECT_EQ(r.torn_tail_bytes, 0u);
    EXPECT_EQ(r.pending, 9u);
    EXPECT_FALSE(stdfs::exists(segs[0]));
    ASSERT_TRUE(stdfs::exists(segs[0] + ".corrupt"));
    EXPECT_EQ(stdfs::file_size(segs[0] + ".corrupt"), size_before) << "kept as it was found";
    const auto frames = replay_by_seq(**wal, &lsns);
    ASSERT_EQ(frames.size(), 9u);
    EXPECT_EQ(frames.count(5), 0u);
    for (std::uint64_t seq : {0, 1, 2, 3, 4, 6, 7, 8, 9}) EXPECT_EQ(frames.count(seq), 1u) << seq;
    expect_intact(frames, 200);
    (*wal)->mark_done(lsns);
  }
  auto wal = WriteAheadLog::open({dir});
  ASSERT_TRUE(wal);
  EXPECT_EQ((*wal)->recovery().pending, 0u);
  EXPECT_TRUE((*wal)->recovery().corrupt_segments.empty()) << "reported once, then left alone";
  EXPECT_TRUE(stdfs::exists(segs[0] + ".corrupt")) << "a corrupt segment is never deleted";
}

TEST(WalRecoveryTest, CorruptionInAnOlderSegmentIsSkippedAndATornTailIsStillCut) {
  test::ScratchDir scratch("wal-flip-old");
  const std::string dir = scratch.path + "/wal";
  write_frames_and_crash(dir, 30, 300, 2048);  // ~6 records a segment
  const auto segs = segments_in(dir);
  ASSERT_GE(segs.size(), 4u);
  const std::size_t bad = flip_bit_in_record(segs[0], 2);
  // Half a record at the end of the newest segment (the one being written, perhaps still empty):
  // a write torn by the crash.
  std::vector<std::uint8_t> partial;
  append_frame_record(frame_of(99, 300), 999, partial);
  const auto last_size = stdfs::file_size(segs.back());
  {
    std::ofstream tail(segs.back(), std::ios::binary | std::ios::app);
    tail.write(reinterpret_cast<const char*>(partial.data()),
               static_cast<std::streamsize>(partial.size() / 2));
  }

  for (int open = 0; open < 2; ++open) {
    // Twice without completing anything: the frames copied out of the corrupt segment stay.
    auto wal = WriteAheadLog::open({dir});
    ASSERT_TRUE(wal) << wal.status().to_string();
    const auto& r = (*wal)->recovery();
    if (open == 0) {
      ASSERT_EQ(r.corrupt_segments.size(), 1u);
      EXPECT_EQ(r.corrupt_segments[0], segs[0]);
      EXPECT_EQ(r.unreadable_bytes, bad);
      EXPECT_EQ(r.torn_tail_bytes, partial.size() / 2);
      EXPECT_EQ(stdfs::file_size(segs.back()), last_size) << "the torn tail is cut";
    } else {
      EXPECT_TRUE(r.corrupt_segments.empty());
    }
    EXPECT_EQ(r.pending, 29u) << "open " << open;
    EXPECT_TRUE(stdfs::exists(segs[0] + ".corrupt"));
  }
  std::vector<std::uint64_t> lsns;
  {
    auto wal = WriteAheadLog::open({dir});
    ASSERT_TRUE(wal);
    const auto frames = replay_by_seq(**wal, &lsns);
    EXPECT_EQ(frames.size(), 29u);
    EXPECT_EQ(frames.count(2), 0u) << "the bad record";
    for (std::uint64_t seq = 0; seq < 30; ++seq) {
      if (seq != 2) {
        EXPECT_EQ(frames.count(seq), 1u) << "frame " << seq << " is missing";
      }
    }
    expect_intact(frames, 300);
    (*wal)->mark_done(lsns);
    EXPECT_EQ((*wal)->segments(), 1u) << "every live segment is done and deleted";
  }
  EXPECT_TRUE(stdfs::exists(segs[0] + ".corrupt")) << "a corrupt segment is never deleted";
  auto wal = WriteAheadLog::open({dir});
  ASSERT_TRUE(wal);
  EXPECT_EQ((*wal)->recovery().pending, 0u);
}

// The largest frame the wire format carries (a signed 32-bit length) must be loggable and read
// back: its record's length is accepted, checked without allocating 2 GiB (header only).
TEST(WalRecoveryTest, ARecordAsLongAsTheWireAllowsIsAcceptedAndOneByteMoreIsNot) {
  static_assert(kWalMaxPayloadBytes == static_cast<std::uint32_t>(INT32_MAX));
  const std::uint32_t longest_body = 1 + 3 * 8 + 1 + 28 + 4 + kWalMaxPayloadBytes;  // a 28-byte name
  auto header = [](std::uint32_t body_len) {
    std::vector<std::uint8_t> h(kWalRecordHeaderBytes + 16, 0);
    for (int i = 0; i < 4; ++i)
      h[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(body_len >> (8 * i));
    h[kWalRecordHeaderBytes] = static_cast<std::uint8_t>(WalRecordType::kFrame);
    return h;
  };
  std::size_t used = 0;
  auto longest = decode_wal_record(header(longest_body), used);
  ASSERT_FALSE(longest);
  EXPECT_NE(longest.status().message().find("truncated"), std::string::npos)
      << "the length is accepted; only the body is missing: " << longest.status().message();
  auto too_long = decode_wal_record(header(kWalMaxBodyBytes + 1), used);
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.status().message().find("impossible length"), std::string::npos)
      << too_long.status().message();
  EXPECT_GE(kWalMaxBodyBytes, 1 + 3 * 8 + 1 + 255 + 4 + kWalMaxPayloadBytes) << "even with a 255-byte name";

  // Such a header at the end of the last segment is a torn write: cut, and the rest replayed.
  test::ScratchDir scratch("wal-longest");
  const std::string dir = scratch.path + "/wal";
  write_frames_and_crash(dir, 3, 100, 64u << 20);
  const auto segs = segments_in(dir);
  ASSERT_EQ(segs.size(), 1u);
  const auto good = stdfs::file_size(segs[0]);
  {
    const auto h = header(longest_body);
    std::ofstream(segs[0], std::ios::binary | std::ios::app)
        .write(reinterpret_cast<const char*>(h.data()), static_cast<std::streamsize>(h.size()));
  }
  auto wal = WriteAheadLog::open({dir});
  ASSERT_TRUE(wal) << wal.status().to_string();
  EXPECT_EQ((*wal)->recovery().pending, 3u);
  EXPECT_EQ((*wal)->recovery().torn_tail_bytes, kWalRecordHeaderBytes + 16);
  EXPECT_TRUE((*wal)->recovery().corrupt_segments.empty());
  EXPECT_EQ(stdfs::file_size(segs[0]), good);
}

}  // namespace
}  // namespace sluice::store
