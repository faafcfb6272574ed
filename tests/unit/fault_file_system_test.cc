// The fault-injecting file system itself: rules fail the calls they name, short writes leave a
// prefix, and a power loss leaves exactly what was made durable.
#include "support/fault_file_system.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/child_process.h"
#include "support/test_env.h"

namespace sluice::test {
namespace {
namespace stdfs = std::filesystem;
using Op = FaultFileSystem::Op;
using Fault = FaultFileSystem::Fault;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct TempDir {
  TempDir() : path(make_temp_dir("faultfs")) {}
  ~TempDir() {
    std::error_code ec;
    stdfs::remove_all(path, ec);
  }
  std::string path;
};

TEST(FaultFileSystemTest, RulesFailTheNamedCallsWithTheSystemsReason) {
  TempDir dir;
  FaultFileSystem fs(dir.path + "/trash");
  const std::string out = dir.path + "/out.jsonl", other = dir.path + "/other";
  const int full = fs.add_rule({Op::kAppend, "out.jsonl", Fault::kNoSpace, /*after=*/2, /*times=*/2});
  auto file = fs.open_writable(out, fs::OpenMode::kTruncate);
  ASSERT_TRUE(file);
  auto untouched = fs.open_writable(other, fs::OpenMode::kTruncate);
  ASSERT_TRUE(untouched);
  EXPECT_TRUE((*file)->append(bytes("a")));
  EXPECT_TRUE((*file)->append(bytes("b")));
  const auto st = (*file)->append(bytes("c"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), Code::kIo);
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("out.jsonl"), std::string::npos) << st.message();
  EXPECT_TRUE((*untouched)->append(bytes("x"))) << "another path is not affected";
  EXPECT_FALSE((*file)->append(bytes("d")));
  EXPECT_TRUE((*file)->append(bytes("e"))) << "the rule is spent after 2 faults";
  EXPECT_EQ(fs.fired(full), 2u);
  EXPECT_EQ(read_file(out), "abe");

  const int eio = fs.add_rule({Op::kSync, "", Fault::kIoError});
  const auto sync = (*file)->sync();
  ASSERT_FALSE(sync);
  EXPECT_NE(sync.message().find("Input/output error"), std::string::npos) << sync.message();
  EXPECT_FALSE((*file)->sync()) << "until cleared";
  fs.clear_rule(eio);
  EXPECT_TRUE((*file)->sync());
  EXPECT_EQ(fs.faults(), 4u);
  EXPECT_EQ(fs.succeeded(Op::kAppend, "out.jsonl"), 3u);
}

TEST(FaultFileSystemTest, AShortWriteLeavesAPrefixAndFails) {
  TempDir dir;
  FaultFileSystem fs(dir.path + "/trash");
  const std::string out = dir.path + "/out";
  fs.add_rule({Op::kAppend, "", Fault::kShortWrite, 0, 1});
  auto file = fs.open_writable(out, fs::OpenMode::kTruncate);
  ASSERT_TRUE(file);
  const auto st = (*file)->append(bytes("0123456789"));
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos);
  EXPECT_EQ((*file)->size(), 5u) << "size() tells how much reached the file";
  EXPECT_EQ(read_file(out), "01234");
}

TEST(FaultFileSystemTest, ACrashFreezesEverything) {
  TempDir dir;
  FaultFileSystem fs(dir.path + "/trash");
  const std::string out = dir.path + "/out";
  fs.add_rule({Op::kSync, "", Fault::kCrash, /*after=*/1});
  auto file = fs.open_writable(out, fs::OpenMode::kTruncate);
  ASSERT_TRUE(file);
  ASSERT_TRUE(fs.sync_dir(dir.path)) << "its name is durable";
  ASSERT_TRUE((*file)->append(bytes("one")));
  ASSERT_TRUE((*file)->sync());
  ASSERT_TRUE((*file)->append(bytes("two")));
  EXPECT_FALSE(fs.crashed());
  EXPECT_FALSE((*file)->sync()) << "the second sync crashes";
  EXPECT_TRUE(fs.crashed());
  EXPECT_FALSE((*file)->append(bytes("three")));
  EXPECT_FALSE(fs.open_writable(dir.path + "/new", fs::OpenMode::kAppend));
  EXPECT_FALSE(fs.rename(out, dir.path + "/moved"));
  EXPECT_FALSE(fs.remove(out));
  EXPECT_FALSE(stdfs::exists(dir.path + "/new"));
  EXPECT_EQ(read_file(out), "onetwo") << "nothing after the crash reached the disk";
  fs.power_loss();
  EXPECT_EQ(read_file(out), "one") << "the unsynced tail is gone";
  EXPECT_FALSE(fs.crashed()) << "up again after the power loss";
}

TEST(FaultFileSystemTest, APowerLossKeepsOnlyWhatWasMadeDurable) {
  TempDir dir;
  FaultFileSystem fs(dir.path + "/trash");
  const std::string d = dir.path;
  {
    std::ofstream(d + "/old") << "old file";       // there before: durable
    std::ofstream(d + "/doomed") << "unlinked";    // unlinked without a directory sync
    std::ofstream(d + "/gone") << "unlinked too";  // unlinked, then the directory synced
    std::ofstream(d + "/replaced") << "original";  // replaced by a rename, not synced
  }
  auto synced_new = fs.open_writable(d + "/synced-new", fs::OpenMode::kTruncate);
  ASSERT_TRUE(synced_new);
  ASSERT_TRUE((*synced_new)->append(bytes("kept")));
  ASSERT_TRUE((*synced_new)->sync());
  ASSERT_TRUE(fs.sync_dir(d));
  ASSERT_TRUE((*synced_new)->append(bytes(" and lost")));
  ASSERT_TRUE(fs.remove(d + "/gone"));
  // Syncs its directory: everything above is durable now, and nothing below is.
  ASSERT_TRUE(fs.write_file_atomically(d + "/atomic", bytes("all or nothing")));

  auto unsynced_dir = fs.open_writable(d + "/no-dir-sync", fs::OpenMode::kTruncate);
  ASSERT_TRUE(unsynced_dir);
  ASSERT_TRUE((*unsynced_dir)->append(bytes("data")));
  ASSERT_TRUE((*unsynced_dir)->sync()) << "its data is synced, but not its name";

  auto appended = fs.open_writable(d + "/old", fs::OpenMode::kAppend);
  ASSERT_TRUE(appended);
  ASSERT_TRUE((*appended)->append(bytes(" plus unsynced")));

  ASSERT_TRUE(fs.remove(d + "/doomed"));
  auto tmp = fs.open_writable(d + "/replacement", fs::OpenMode::kTruncate);
  ASSERT_TRUE(tmp);
  ASSERT_TRUE((*tmp)->append(bytes("new")));
  ASSERT_TRUE((*tmp)->sync());
  ASSERT_TRUE(fs.rename(d + "/replacement", d + "/replaced"));
  EXPECT_EQ(read_file(d + "/replaced"), "new");

  fs.crash();
  fs.power_loss();
  EXPECT_EQ(read_file(d + "/synced-new"), "kept");
  EXPECT_FALSE(stdfs::exists(d + "/no-dir-sync")) << "a creation without a directory sync is lost";
  EXPECT_EQ(read_file(d + "/old"), "old file");
  EXPECT_FALSE(stdfs::exists(d + "/gone"));
  EXPECT_EQ(read_file(d + "/doomed"), "unlinked") << "an unlink without a directory sync is undone";
  EXPECT_EQ(read_file(d + "/atomic"), "all or nothing");
  EXPECT_EQ(read_file(d + "/replaced"), "original") << "a rename without a directory sync is undone";
  EXPECT_FALSE(stdfs::exists(d + "/replacement")) << "...and its source was never durably created";
  EXPECT_TRUE(stdfs::is_empty(d + "/trash"));
}

}  // namespace
}  // namespace sluice::test
