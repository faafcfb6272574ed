// End to end: `sluice bench e2e` and `sluice bench sweep` run by the real binary on the Fashion-MNIST
// bundle, with small frame counts so that each test stays well under 30 s on a busy 2-core machine.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;

SluiceRun run_sluice(const std::string& dir, std::vector<std::string> args) {
  return test::run_sluice(dir, std::move(args), 180s);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::stringstream ss(line);
  while (std::getline(ss, item, sep)) out.push_back(item);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

// A CSV file with a header row: one map per data row, column name -> cell.
std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  const auto lines = read_lines(path);
  std::vector<std::map<std::string, std::string>> rows;
  if (lines.empty()) return rows;
  const auto header = split(lines[0], ',');
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const auto cells = split(lines[i], ',');
    EXPECT_EQ(cells.size(), header.size()) << "row " << i << ": " << lines[i];
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < header.size() && c < cells.size(); ++c) row[header[c]] = cells[c];
    rows.push_back(std::move(row));
  }
  return rows;
}

// The number in a cell; NaN when the cell is missing, empty or not entirely a number.
double num(const std::map<std::string, std::string>& row, const std::string& column) {
  const auto it = row.find(column);
  if (it == row.end() || it->second.empty()) return std::nan("");
  std::size_t pos = 0;
  try {
    const double v = std::stod(it->second, &pos);
    return pos == it->second.size() ? v : std::nan("");
  } catch (const std::exception&) {
    return std::nan("");
  }
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// The options every run shares: the bundle and the first 1000 Fashion-MNIST test images as PNG frames.
// The budget is generous because the benchmark's own producer, its frame copies and its baseline
// sessions live in the same process, and under ASan its shadow memory alone put start-up resident
// memory above the default 512 MiB; the memory budget is tested elsewhere.
std::vector<std::string> model_and_images() {
  return {"--model", fashion_bundle(), "--idx",           fashion_images(),
          "--limit", "1000",           "--memory-budget", "2GiB"};
}

TEST(BenchCli, E2eMeasuresMaxRateLoadAndTheMachinesLimit) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("bench-e2e");
  auto args = std::vector<std::string>{"bench", "e2e"};
  const auto common = model_and_images();
  args.insert(args.end(), common.begin(), common.end());
  args.insert(args.end(), {"--frames", "400", "--loads", "50", "--load-seconds", "1", "--baseline-seconds",
                           "0.3", "--executors", "2", "--cores", "1", "--csv", dir + "/e2e.csv"});
  const auto r = run_sluice(dir, args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;

  const auto rows = read_csv(dir + "/e2e.csv");
  ASSERT_EQ(rows.size(), 2u) << read_file(dir + "/e2e.csv");
  const auto& max = rows[0];
  const auto& load = rows[1];
  EXPECT_EQ(max.at("run"), "max");
  EXPECT_EQ(load.at("run"), "load");
  EXPECT_EQ(num(load, "offered_load_pct"), 50.0);
  EXPECT_EQ(max.at("offered_load_pct"), "") << "the max-rate run offers no fixed load";

  EXPECT_EQ(num(max, "frames"), 400.0);
  const double max_fps = num(max, "throughput_fps");
  ASSERT_GT(max_fps, 0.0);
  // Offered load: half of the measured maximum (both printed to 0.1 frames/s).
  EXPECT_NEAR(num(load, "offered_fps"), 0.5 * max_fps, 0.1);
  // A load run lasts about --load-seconds, and sends at least --frames.
  EXPECT_GE(num(load, "frames"), 400.0);

  // The limit: every core decoding (alone, no preprocessing) and inferring each image once.
  const double limit = num(max, "limit_fps");
  EXPECT_GT(num(max, "decode_ms"), 0.0);
  EXPECT_GT(num(max, "decode_alone_ms"), 0.0);
  EXPECT_GT(num(max, "infer_ms"), 0.0);
  EXPECT_GE(num(max, "infer_batch"), 1.0);
  EXPECT_GE(num(max, "cores"), 1.0);
  ASSERT_GT(limit, 0.0);
  EXPECT_NEAR(limit, 1000.0 * num(max, "cores") / (num(max, "decode_alone_ms") + num(max, "infer_ms")),
              limit * 0.01);
  for (const auto& row : rows) {
    SCOPED_TRACE(row.at("run"));
    EXPECT_EQ(num(row, "results"), num(row, "frames")) << "every frame sent has its result";
    EXPECT_EQ(num(row, "errors"), 0.0);
    const double fps = num(row, "throughput_fps");
    EXPECT_GT(fps, 0.0);
    EXPECT_GT(num(row, "p50_ms"), 0.0);
    EXPECT_LE(num(row, "p50_ms"), num(row, "p90_ms"));
    EXPECT_LE(num(row, "p90_ms"), num(row, "p99_ms"));
    EXPECT_GE(num(row, "batches"), 1.0);
    EXPECT_GE(num(row, "mean_batch"), 1.0);
    EXPECT_GT(num(row, "batch_ms"), 0.0);
    EXPECT_EQ(num(row, "limit_fps"), limit) << "one limit per run";
    EXPECT_NEAR(num(row, "ratio_to_limit"), fps / limit, 0.001 + 0.001 * fps / limit);
  }
  // The latency bound in interval mode: batch interval (100 ms by default here) + 2 x batch time.
  EXPECT_NEAR(num(load, "latency_bound_ms"), 100.0 + 2.0 * num(load, "batch_ms"), 0.01);
  EXPECT_EQ(load.at("bound_met"), num(load, "p99_ms") <= num(load, "latency_bound_ms") ? "yes" : "no");

  // The human-readable table.
  EXPECT_NE(r.out.find("decode alone, 1 thread:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("e2e max / limit:"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.find(" met") != std::string::npos || r.out.find("NOT met") != std::string::npos) << r.out;
  EXPECT_NE(r.err.find("max: sending 400 frames"), std::string::npos) << "progress goes to stderr: " << r.err;
}

TEST(BenchCli, E2eRejectsLoadsOutsideZeroToHundredAndAMissingImageFolder) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("bench-e2e-bad");
  for (const std::string bad : {"0", "150", "50,-5"}) {
    SCOPED_TRACE(bad);
    auto args = std::vector<std::string>{"bench", "e2e"};
    const auto common = model_and_images();
    args.insert(args.end(), common.begin(), common.end());
    args.insert(args.end(), {"--loads", bad});
    const auto r = run_sluice(dir, args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("--loads"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("greater than 0 and at most 100"), std::string::npos) << r.err;
  }
  const auto missing =
      run_sluice(dir, {"bench", "e2e", "--model", fashion_bundle(), "--images", dir + "/nope"});
  EXPECT_EQ(missing.code, 2) << missing.err;
  EXPECT_NE(missing.err.find("--images " + dir + "/nope: no such directory"), std::string::npos)
      << missing.err;

  const auto neither = run_sluice(dir, {"bench", "e2e", "--model", fashion_bundle()});
  EXPECT_EQ(neither.code, 2) << neither.err;
  EXPECT_NE(neither.err.find("give --images DIR"), std::string::npos) << neither.err;
}

TEST(BenchCli, E2eStopsOnCtrlCWithExitCode130) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("bench-e2e-int");
  std::vector<std::string> args{sluice_binary(), "bench", "e2e"};
  const auto common = model_and_images();
  args.insert(args.end(), common.begin(), common.end());
  args.insert(args.end(),
              {"--frames", "5000000", "--baseline-seconds", "0.2", "--executors", "1", "--cores", "1"});
  auto child = ChildProcess::spawn(args, dir + "/out", dir + "/err");
  // Interrupt during the long max-rate run (its progress line says when it begins).
  ASSERT_TRUE(wait_for_text(dir + "/err", "max: sending", 60s)) << read_file(dir + "/err");
  child.signal(SIGINT);
  EXPECT_EQ(child.wait(30s), 130) << read_file(dir + "/err");
  EXPECT_NE(read_file(dir + "/err").find("interrupted"), std::string::npos) << read_file(dir + "/err");
}

TEST(BenchCli, SweepWritesOneCsvRowAndOneChartPointPerConfiguration) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("bench-sweep");
  auto args = std::vector<std::string>{"bench", "sweep"};
  const auto common = model_and_images();
  args.insert(args.end(), common.begin(), common.end());
  args.insert(args.end(),
              {"--frames", "300", "--load-seconds", "1", "--executors", "1,2", "--cores", "1",
               "--batch-intervals", "50ms", "--csv", dir + "/sweep.csv", "--svg", dir + "/sweep.svg"});
  const auto r = run_sluice(dir, args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;

  const auto rows = read_csv(dir + "/sweep.csv");
  ASSERT_EQ(rows.size(), 2u) << read_file(dir + "/sweep.csv");
  const std::vector<std::string> labels{"1x1 50ms", "2x1 50ms"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(labels[i]);
    EXPECT_EQ(rows[i].at("config"), labels[i]);
    EXPECT_EQ(num(rows[i], "executors"), static_cast<double>(i + 1));
    EXPECT_EQ(num(rows[i], "cores"), 1.0);
    EXPECT_EQ(num(rows[i], "batch_interval_ms"), 50.0);
    EXPECT_GT(num(rows[i], "max_throughput_fps"), 0.0);
    EXPECT_NEAR(num(rows[i], "offered_fps"), 0.5 * num(rows[i], "max_throughput_fps"), 0.1);
    EXPECT_GT(num(rows[i], "load_throughput_fps"), 0.0);
    EXPECT_LE(num(rows[i], "p50_ms"), num(rows[i], "p90_ms"));
    EXPECT_LE(num(rows[i], "p90_ms"), num(rows[i], "p99_ms"));
    EXPECT_GT(num(rows[i], "p99_ms"), 0.0);
  }

  const auto svg = read_file(dir + "/sweep.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 200);
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(count_of(svg, "<polyline"), 2u) << "a throughput line and a p99 line";
  EXPECT_EQ(count_of(svg, "</svg>"), 1u);
  for (const auto& label : labels) EXPECT_NE(svg.find(">" + label + "</text>"), std::string::npos) << label;
  EXPECT_NE(svg.find("throughput"), std::string::npos);
  EXPECT_NE(svg.find("p99"), std::string::npos);
  // Each line has one point per configuration.
  const auto points = svg.find("points=\"");
  ASSERT_NE(points, std::string::npos);
  const auto end = svg.find('"', points + 8);
  EXPECT_EQ(split(svg.substr(points + 8, end - points - 8), ' ').size(), 2u);
}

TEST(BenchCli, SweepRejectsABadGridNamingTheOption) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("bench-sweep-bad");
  struct Case {
    std::vector<std::string> grid;
    std::string message;
  };
  const std::vector<Case> cases{
      {.grid = {"--cores", "0"}, .message = "--cores: 0 is not allowed: each value must be at least 1"},
      {.grid = {"--executors", "1,,2"}, .message = "--executors '1,,2': an item is empty"},
      {.grid = {"--batch-intervals", "fast"}, .message = "--batch-intervals: 'fast' is not a duration"},
      {.grid = {"--batch-intervals", "0ms"}, .message = "--batch-intervals: 0ms is not allowed"},
      {.grid = {"--mode", "continuous", "--max-batches", "8,0"},
       .message = "--max-batches: 0 is not allowed"},
      {.grid = {"--mode", "continuous", "--batch-intervals", "50ms"},
       .message = "--batch-intervals applies to"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    auto args = std::vector<std::string>{"bench", "sweep"};
    const auto common = model_and_images();
    args.insert(args.end(), common.begin(), common.end());
    args.insert(args.end(), c.grid.begin(), c.grid.end());
    args.insert(args.end(), {"--csv", dir + "/s.csv", "--svg", dir + "/s.svg"});
    const auto r = run_sluice(dir, args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir + "/s.svg")) << "nothing is written for a bad grid";
  }
}

}  // namespace
}  // namespace sluice::test
