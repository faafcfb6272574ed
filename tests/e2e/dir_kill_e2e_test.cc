// The dir source against kill -9 at random points: a file is moved to done/ (or deleted) only
// once its line is in the output, so no kill can leave a file gone without its line; restarts
// finish every file.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/durability_harness.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
namespace stdfs = std::filesystem;

constexpr int kIterations = 12;
constexpr int kFilesPerIteration = 25;

// Names with a whole line in the output (a line torn by the kill is not one).
std::set<std::string> names_with_lines(const std::string& path) {
  std::set<std::string> names;
  for (const auto& line : read_lines(path)) {
    const auto r = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (r.is_object() && r.contains("name") && (r.contains("top") || r.contains("error")))
      names.insert(r["name"].get<std::string>());
  }
  return names;
}

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : stdfs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

void kill_nine_at_random_points(bool remove) {
  SLUICE_REQUIRE_PATH(fashion_bundle());
  SLUICE_REQUIRE_PATH(fashion_images());
  const auto& frames = fashion_frames(kFilesPerIteration);
  ScratchDir dir(remove ? "dir-kill-delete" : "dir-kill-done");
  const std::string in = dir.path + "/in", done = dir.path + "/done", out = dir.path + "/out.jsonl";
  stdfs::create_directories(in);
  const std::string spec =
      remove ? fmt::format("dir:{}?delete=1", in) : fmt::format("dir:{}?done={}", in, done);
  const std::vector<std::string> argv{
      sluice_binary(),  "serve",      "--source", spec,          "--model",
      fashion_bundle(), "--output",   out,        "--append",    "--batch-interval",
      "50ms",           "--max-rate", "50",       "--executors", "1",
      "--cores",        "1"};
  // Kill points: odd iterations at a random moment after the first new line appears (the files
  // are being read, processed, moved: --max-rate spreads the 25 over ~0.5 s); even ones at a
  // random moment after the start (start-up, the scan).
  std::mt19937 rng(20261127);  // fixed: the same sequence of delays every run
  std::uniform_int_distribution<int> delay_ms(0, 600);
  std::set<std::string> written;
  int killed_mid_way = 0;
  for (int it = 0; it < kIterations; ++it) {
    // New files, written hidden and renamed in, as the dir source asks of writers.
    for (int f = 0; f < kFilesPerIteration; ++f) {
      const auto name = fmt::format("i{:02}-f{:02}.png", it, f);
      const auto& payload = frames.frames[static_cast<std::size_t>(f)].payload;
      std::ofstream(in + "/." + name, std::ios::binary)
          .write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
      stdfs::rename(in + "/." + name, in + "/" + name);
      written.insert(name);
    }
    const auto lines_before = read_lines(out).size();
    auto serve = ChildProcess::spawn(argv, "", fmt::format("{}/serve-{}.log", dir.path, it));
    if (it % 2 == 1) (void)wait_for_lines(out, lines_before + 1, 30s);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    serve.signal(SIGKILL);
    ASSERT_EQ(serve.wait(30s), 128 + SIGKILL);
    const auto left_now = files_in(in).size();
    killed_mid_way += left_now > 0 && read_lines(out).size() > lines_before;
    // The invariant at this kill point: every file gone from in/ has its line.
    const auto lines = names_with_lines(out);
    const auto left = files_in(in);
    for (const auto& name : written) {
      if (left.count(name)) continue;
      EXPECT_TRUE(lines.count(name)) << "iteration " << it << ": " << name << " was "
                                     << (remove ? "deleted" : "moved") << " without its line";
      if (!remove) {
        EXPECT_TRUE(stdfs::exists(done + "/" + name)) << name << " vanished";
      }
    }
  }
  EXPECT_GT(killed_mid_way, 0) << "no kill fell between the first and the last line of a run";
  ::testing::Test::RecordProperty("killed_mid_way", killed_mid_way);
  // A last run to the end: every file gets its line, and in/ empties.
  auto serve = ChildProcess::spawn(argv, "", dir.path + "/serve-final.log");
  ASSERT_TRUE(wait_until([&] { return files_in(in).empty(); }, 120s))
      << files_in(in).size() << " files left; " << read_file(dir.path + "/serve-final.log");
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0) << read_file(dir.path + "/serve-final.log");
  const auto lines = names_with_lines(out);
  for (const auto& name : written) EXPECT_TRUE(lines.count(name)) << name << " has no line";
  if (!remove) {
    EXPECT_EQ(files_in(done), written);
  }
}

TEST(DirSourceEndToEnd, KillNineAtRandomPointsNeverMovesAFileWithoutItsLine) {
  kill_nine_at_random_points(false);
}

TEST(DirSourceEndToEnd, KillNineAtRandomPointsNeverDeletesAFileWithoutItsLine) {
  kill_nine_at_random_points(true);
}

}  // namespace
}  // namespace sluice::test
