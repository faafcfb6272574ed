// DirSource: files already there and files dropped in while it runs become frames; done files are
// moved or deleted once their results are written (on_frames_done); hidden, oversize and
// vanished files; the watched directory going away asks the supervisor for a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "source/dir_source.h"
#include "source/supervised_source.h"
#include "support/fake_frame_sink.h"
#include "support/test_env.h"

namespace sluice::source {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::eventually;
using test::FakeFrameSink;
constexpr auto kGenerous = 20s;

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
// Written under a hidden name, then renamed in: IN_MOVED_TO.
void drop_by_rename(const fs::path& dir, const std::string& name, const std::string& bytes) {
  write_file(dir / ("." + name + ".tmp"), bytes);
  fs::rename(dir / ("." + name + ".tmp"), dir / name);
}

std::set<std::string> names_of(const std::vector<Frame>& frames) {
  std::set<std::string> out;
  for (const auto& f : frames) out.insert(f.name);
  return out;
}

std::size_t file_count(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(DirSourceTest, ExistingAndNewFilesBecomeFramesAndAreMovedWhenDone) {
  const fs::path in = test::make_temp_dir("dir-in");
  const fs::path done = fs::path(test::make_temp_dir("dir-done")) / "sub";
  write_file(in / "b-existing.png", "B");
  write_file(in / "a-existing.png", "A");
  write_file(in / ".hidden", "ignored");
  fs::create_directory(in / "subdir");
  DirSource source({in, done, false, true, 1024});
  FakeFrameSink sink;
  ASSERT_TRUE(source.start(sink));
  ASSERT_TRUE(sink.wait_for_frames(2, kGenerous));
  {
    const auto frames = sink.frames();
    EXPECT_EQ(frames[0].name, "a-existing.png") << "existing files in name order";
    EXPECT_EQ(frames[1].name, "b-existing.png");
    EXPECT_EQ(frames[0].stream, frames[1].stream);
    EXPECT_EQ(frames[1].seq, 1u);
  }
  // Dropped in while running: written in place (IN_CLOSE_WRITE) and renamed in (IN_MOVED_TO).
  write_file(in / "c-written.png", "C");
  drop_by_rename(in, "d-renamed.png", "D");
  const std::string long_name = "a-file-name-longer-than-twenty-eight-bytes.png";
  write_file(in / long_name, "E");
  ASSERT_TRUE(sink.wait_for_frames(5, kGenerous));
  const auto frames = sink.frames();
  EXPECT_EQ(names_of(frames), (std::set<std::string>{"a-existing.png", "b-existing.png", "c-written.png",
                                                     "d-renamed.png", long_name.substr(0, 28)}));
  EXPECT_EQ(source.pending(), 5u);
  EXPECT_TRUE(fs::exists(in / "c-written.png")) << "nothing moves before its result is written";

  source.on_frames_done(std::span<const Frame>(frames).subspan(0, 2));
  EXPECT_TRUE(fs::exists(done / "a-existing.png"));
  EXPECT_TRUE(fs::exists(done / "b-existing.png"));
  EXPECT_FALSE(fs::exists(in / "a-existing.png"));
  EXPECT_TRUE(fs::exists(in / "c-written.png"));
  source.on_frames_done(frames);  // the first two again: already gone, ignored
  EXPECT_EQ(source.pending(), 0u);
  EXPECT_EQ(file_count(done), 5u);
  EXPECT_TRUE(fs::exists(done / long_name)) << "moved under its full name";
  EXPECT_TRUE(fs::exists(in / ".hidden"));
  source.stop();
  EXPECT_EQ(sink.frame_count(), 5u) << "hidden files and directories are not frames";
  EXPECT_EQ(sink.stats().errors.load(), 0u);
}

TEST(DirSourceTest, DeleteModeRemovesDoneFiles) {
  const fs::path in = test::make_temp_dir("dir-delete");
  DirSource source({in, {}, true, true, 1024});
  FakeFrameSink sink;
  ASSERT_TRUE(source.start(sink));
  for (int i = 0; i < 10; ++i) drop_by_rename(in, "img" + std::to_string(i), std::string(10, 'x'));
  ASSERT_TRUE(sink.wait_for_frames(10, kGenerous));
  EXPECT_EQ(file_count(in), 10u);
  source.on_frames_done(sink.frames());
  EXPECT_EQ(file_count(in), 0u);
  source.stop();
}

TEST(DirSourceTest, KeptFilesAreNotProcessedAgainAfterARestartUnlessRewritten) {
  const fs::path in = test::make_temp_dir("dir-keep");
  write_file(in / "one", "1");
  DirSource source({in, {}, false, true, 1024});
  FakeFrameSink sink;
  ASSERT_TRUE(source.start(sink));
  ASSERT_TRUE(sink.wait_for_frames(1, kGenerous));
  source.on_frames_done(sink.frames());
  EXPECT_TRUE(fs::exists(in / "one")) << "kept";
  source.stop();
  write_file(in / "two", "2");  // arrives while the source is down
  ASSERT_TRUE(source.start(sink));
  ASSERT_TRUE(sink.wait_for_frames(2, kGenerous));
  write_file(in / "one", "1 rewritten");  // a new version is a new frame
  ASSERT_TRUE(sink.wait_for_frames(3, kGenerous));
  source.stop();
  const auto frames = sink.frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[1].name, "two");
  EXPECT_EQ(frames[2].name, "one");
  EXPECT_EQ(frames[2].payload.size(), 11u);
}

TEST(DirSourceTest, OversizeFileIsReportedOnceAndSkipped) {
  const fs::path in = test::make_temp_dir("dir-big");
  write_file(in / "big", std::string(2000, 'x'));
  write_file(in / "small", "ok");
  DirSource source({in, {}, false, true, 1000});
  FakeFrameSink sink;
  ASSERT_TRUE(source.start(sink));
  ASSERT_TRUE(sink.wait_for_frames(1, kGenerous));
  source.stop();
  EXPECT_EQ(sink.frames()[0].name, "small");
  ASSERT_EQ(sink.reported().size(), 1u);
  EXPECT_NE(sink.reported()[0].find("'big' is 2000 bytes, over the 1000-byte frame limit"), std::string::npos)
      << sink.reported()[0];
}

TEST(DirSourceTest, ExistingFilesCanBeLeftAlone) {
  const fs::path in = test::make_temp_dir("dir-new-only");
  write_file(in / "old", "o");
  DirSource source({in, {}, false, /*existing=*/false, 1024});
  FakeFrameSink sink;
  ASSERT_TRUE(source.start(sink));
  write_file(in / "new", "n");
  ASSERT_TRUE(sink.wait_for_frames(1, kGenerous));
  source.stop();
  ASSERT_EQ(sink.frame_count(), 1u);
  EXPECT_EQ(sink.frames()[0].name, "new");
}

TEST(DirSourceTest, MissingDirectoryFailsToStart) {
  DirSource source({"/nonexistent/sluice/dir", {}, false, true, 1024});
  FakeFrameSink sink;
  const Status st = source.start(sink);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("'/nonexistent/sluice/dir' is not a directory"), std::string::npos);
}

TEST(DirSourceTest, RemovedDirectoryAsksForARestartAndTheSupervisorBringsItBack) {
  const fs::path in = test::make_temp_dir("dir-gone");
  RestartPolicy policy;
  policy.initial_backoff = 10ms;
  policy.max_backoff = 20ms;
  SupervisedSource supervised(std::make_unique<DirSource>(DirSourceOptions{in, {}, true, true, 1024}),
                              policy);
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  fs::remove_all(in);
  ASSERT_TRUE(eventually([&] { return sink.stats().restarts.load() >= 2; }, kGenerous))
      << "restarts fail while the directory is missing, and are retried";
  EXPECT_NE(sink.stats().last_error().find("is not a directory"), std::string::npos)
      << sink.stats().last_error();
  fs::create_directory(in);
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kRunning; }, kGenerous));
  write_file(in / "back", "b");
  ASSERT_TRUE(sink.wait_for_frames(1, kGenerous));
  supervised.stop();
  EXPECT_EQ(sink.frames()[0].name, "back");
}

}  // namespace
}  // namespace sluice::source
