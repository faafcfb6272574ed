// End to end for sources and plugins: the real sluice binary with --source, plugins built by the
// test suite and the example plugins, the Fashion-MNIST model. Plus one in-process pipeline
// (StreamingContext) whose SourceStats must show a plugin's restarts.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/streaming_context.h"
#include "model/model_bundle.h"
#include "sink/json_lines_sink.h"
#include "sluice/source_plugin.h"
#include "source/source_factory.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/idx_file.h"
#include "vision/image_encoder.h"

namespace sluice::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// Writes the first `n` Fashion-MNIST test images as PNG files named by index ("00042.png").
void write_fashion_pngs(const std::string& dir, std::size_t first, std::size_t n, bool by_rename = false) {
  static const auto idx = vision::read_idx(fashion_images());
  ASSERT_TRUE(idx) << idx.status().to_string();
  const int rows = static_cast<int>(idx->dims[1]);
  const int cols = static_cast<int>(idx->dims[2]);
  for (std::size_t i = first; i < first + n; ++i) {
    const auto pixels =
        std::span<const std::uint8_t>(idx->data).subspan(i * idx->item_size(), idx->item_size());
    auto png = vision::encode_png(pixels, cols, rows, 1);
    ASSERT_TRUE(png);
    const auto name = fmt::format("{:05}.png", i);
    const auto path = fs::path(dir) / (by_rename ? "." + name : name);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(png->data()), static_cast<std::streamsize>(png->size()));
    if (by_rename) fs::rename(path, fs::path(dir) / name);
  }
}

std::vector<json> parse_lines(const std::string& path) {
  std::vector<json> out;
  for (const auto& line : read_lines(path)) out.push_back(json::parse(line));
  return out;
}

bool wait_for_text(const std::string& path, const std::string& text, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (read_file(path).find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Every line has a prediction, names are unique, and at least `min_accuracy` match the labels
// (names are "NNNNN.png" or plain indexes).
void expect_classified(const std::vector<json>& results, std::size_t n, double min_accuracy) {
  static const auto truth = vision::read_idx(fashion_labels());
  ASSERT_TRUE(truth);
  ASSERT_EQ(results.size(), n);
  std::set<std::string> names;
  std::size_t correct = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.contains("top")) << r.dump();
    const auto name = r["name"].get<std::string>();
    names.insert(name);
    if (r["top"][0]["index"].get<int>() == truth->data.at(std::stoul(name))) ++correct;
  }
  EXPECT_EQ(names.size(), n) << "every frame answered exactly once";
  EXPECT_GE(static_cast<double>(correct) / static_cast<double>(n), min_accuracy);
}

// `sluice serve` with the given sources (no TCP listener), ready once it logs "serving".
class Serve {
 public:
  Serve(const std::string& dir, const std::vector<std::string>& sources, std::vector<std::string> extra = {})
      : dir_(dir) {
    std::vector<std::string> argv{sluice_binary(),    "serve",  "--model",          fashion_bundle(),
                                  "--output",         output(), "--batch-interval", "200ms",
                                  "--block-interval", "50ms"};
    for (const auto& s : sources) {
      argv.push_back("--source");
      argv.push_back(s);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_.emplace(ChildProcess::spawn(argv, "", log()));
    ready_ = wait_for_text(log(), "serving;", 60s);
  }
  std::string output() const { return dir_ + "/results.jsonl"; }
  std::string log() const { return dir_ + "/serve.log"; }
  bool ready() const { return ready_; }
  std::optional<int> stop() {
    process_->signal(SIGTERM);
    return process_->wait(60s);
  }

 private:
  std::string dir_;
  std::optional<ChildProcess> process_;
  bool ready_ = false;
};

#define REQUIRE_FASHION()                                                                                   \
  SLUICE_REQUIRE_PATH(fashion_images());                                                                    \
  ASSERT_TRUE(fs::exists(fashion_bundle())) << "the Fashion-MNIST bundle is missing: scripts/run-tests.sh " \
                                               "trains it"

TEST(SourcePluginEndToEnd, PluginBuiltByTheTestsFeedsFashionMnistAndEveryFrameGetsAResult) {
  REQUIRE_FASHION();
  const auto dir = make_temp_dir("plugin-e2e");
  const auto images = dir + "/images";
  fs::create_directory(images);
  write_fashion_pngs(images, 0, 1000);
  Serve serve(dir,
              {fmt::format("plugin:{}?dir={}&api=many&zero_copy=1&chunk=100", SLUICE_TEST_PLUGIN, images)});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  EXPECT_EQ(wait_for_lines(serve.output(), 1000, 120s), 1000u);
  ASSERT_EQ(serve.stop(), 0) << read_file(serve.log());
  expect_classified(parse_lines(serve.output()), 1000, 0.8);
}

TEST(SourcePluginEndToEnd, TheGuidesMinimalPluginFeedsFashionMnist) {
  REQUIRE_FASHION();
  const auto dir = make_temp_dir("minimal-e2e");
  const auto images = dir + "/images";
  fs::create_directory(images);
  write_fashion_pngs(images, 0, 200);
  Serve serve(dir, {fmt::format("plugin:{}?dir={}", SLUICE_MINIMAL_PLUGIN, images)});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  EXPECT_EQ(wait_for_lines(serve.output(), 200, 120s), 200u);
  ASSERT_EQ(serve.stop(), 0) << read_file(serve.log());
  expect_classified(parse_lines(serve.output()), 200, 0.8);
}

// sluice serve exits with 2 and one clear message on stderr.
std::string refused_start(const std::string& tag, const std::string& source) {
  const auto dir = make_temp_dir(tag);
  auto serve = ChildProcess::spawn({sluice_binary(), "serve", "--model", fashion_bundle(), "--output",
                                    dir + "/r.jsonl", "--source", source},
                                   "", dir + "/serve.log");
  const auto code = serve.wait(60s);
  EXPECT_EQ(code, 2) << read_file(dir + "/serve.log");
  return read_file(dir + "/serve.log");
}

TEST(SourcePluginEndToEnd, AbiVersionMismatchIsRefusedNamingBothVersions) {
  REQUIRE_FASHION();
  const auto log = refused_start("abi", fmt::format("plugin:{}", SLUICE_ABI_MISMATCH_PLUGIN));
  EXPECT_NE(log.find(fmt::format("ABI version {}", SLUICE_SOURCE_ABI_VERSION + 1)), std::string::npos) << log;
  EXPECT_NE(log.find(fmt::format("supports ABI version {}", SLUICE_SOURCE_ABI_VERSION)), std::string::npos)
      << log;
}

TEST(SourcePluginEndToEnd, BadPluginPathMissingSymbolAndBadKeysAreRefused) {
  REQUIRE_FASHION();
  EXPECT_NE(refused_start("badpath", "plugin:/nonexistent/libx.so")
                .find("cannot load plugin '/nonexistent/libx.so'"),
            std::string::npos);
  EXPECT_NE(
      refused_start("nosym", fmt::format("plugin:{}", SLUICE_NO_ENTRY_PLUGIN)).find("sluice_source_plugin"),
      std::string::npos);
  EXPECT_NE(refused_start("badkey", fmt::format("plugin:{}?colour=red", SLUICE_TEST_PLUGIN))
                .find("unknown key 'colour'"),
            std::string::npos);
  EXPECT_NE(
      refused_start("badkv", fmt::format("plugin:{}?novalue", SLUICE_TEST_PLUGIN)).find("is not key=value"),
      std::string::npos);
  EXPECT_NE(refused_start("badkind", "ftp:/x").find("unknown kind 'ftp'"), std::string::npos);
}

TEST(SourcePluginEndToEnd, FaultyPluginIsRestartedWithBackoffAndTheLogSaysSo) {
  REQUIRE_FASHION();
  const auto dir = make_temp_dir("restart-e2e");
  const auto images = dir + "/images";
  fs::create_directory(images);
  write_fashion_pngs(images, 0, 100);
  Serve serve(dir,
              {fmt::format("plugin:{}?dir={}&faults=2&restart_backoff=50ms", SLUICE_TEST_PLUGIN, images)});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  EXPECT_EQ(wait_for_lines(serve.output(), 100, 120s), 100u);
  ASSERT_EQ(serve.stop(), 0);
  const auto log = read_file(serve.log());
  EXPECT_NE(log.find("test plugin: simulated device fault"), std::string::npos) << log;
  EXPECT_NE(log.find("device reset needed; restarting in 50 ms (restart 1)"), std::string::npos) << log;
  EXPECT_NE(log.find("device reset needed; restarting in 100 ms (restart 2)"), std::string::npos)
      << "the backoff doubles\n"
      << log;
  EXPECT_NE(log.find("running again after restart 2"), std::string::npos) << log;
  expect_classified(parse_lines(serve.output()), 100, 0.8);
}

TEST(SourcePluginEndToEnd, RestartsAndErrorsShowInTheSourceStatsOfARunningPipeline) {
  REQUIRE_FASHION();
  const auto dir = make_temp_dir("restart-stats");
  const auto images = dir + "/images";
  fs::create_directory(images);
  write_fashion_pngs(images, 0, 50);
  model::BundleOverrides overrides;
  auto bundle = model::load_bundle(fashion_bundle(), overrides);
  ASSERT_TRUE(bundle) << bundle.status().to_string();
  auto sink = sink::JsonLinesSink::open(dir + "/results.jsonl");
  ASSERT_TRUE(sink);
  PipelineConfig config;
  config.batch_interval = 100ms;
  config.block_interval = 25ms;
  engine::StreamingContext ctx(config, *bundle, **sink);
  auto spec = source::parse_source_spec(fmt::format(
      "plugin:{}?dir={}&faults=2&start_errors=1&restart_backoff=10ms", SLUICE_TEST_PLUGIN, images));
  ASSERT_TRUE(spec);
  auto source = source::make_source(*spec, {});
  ASSERT_TRUE(source) << source.status().to_string();
  ctx.add_source(std::move(*source));
  ASSERT_TRUE(ctx.start());
  EXPECT_EQ(wait_for_lines(dir + "/results.jsonl", 50, 60s), 50u);
  const auto& stats = ctx.source_stats(0);
  // Run 1 faults (one report, one restart request); restart 1 fails to start; restart 2 runs and
  // faults again; restart 3 delivers.
  EXPECT_EQ(stats.restarts.load(), 3u);
  EXPECT_EQ(stats.errors.load(), 2u * 2u + 1u);
  EXPECT_EQ(stats.state(), observe::SourceState::kRunning);
  EXPECT_EQ(stats.frames.load(), 50u);
  EXPECT_NE(stats.last_error().find("device reset needed"), std::string::npos) << stats.last_error();
  ctx.stop();
  EXPECT_EQ(stats.state(), observe::SourceState::kStopped);
  EXPECT_EQ(ctx.metrics().frames_succeeded.load(), 50u);
}

TEST(SourcePluginEndToEnd, ShmRingDeliversFashionMnistFromTheProducer) {
  REQUIRE_FASHION();
  const auto dir = make_temp_dir("shm-e2e");
  const auto ring = fmt::format("/sluice-e2e-{}", ::getpid());
  Serve serve(dir,
              {fmt::format("plugin:{}?ring={}&slots=1024&slot_bytes=4096", SLUICE_SHM_RING_PLUGIN, ring)});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  auto producer = ChildProcess::spawn(
      {SLUICE_SHM_RING_PRODUCER, "--ring", ring, "--limit", "3000", "--drain", fashion_images()},
      dir + "/producer.out", dir + "/producer.err");
  ASSERT_EQ(producer.wait(180s), 0) << read_file(dir + "/producer.err");
  EXPECT_NE(read_file(dir + "/producer.out").find("sent 3000 frames"), std::string::npos);
  EXPECT_EQ(wait_for_lines(serve.output(), 3000, 60s), 3000u);
  ASSERT_EQ(serve.stop(), 0) << read_file(serve.log());
  expect_classified(parse_lines(serve.output()), 3000, 0.8);
  EXPECT_FALSE(fs::exists("/dev/shm" + ring)) << "the plugin removes the ring it created";
}

TEST(SourcePluginEndToEnd, DirSourcesTakeFilesDroppedInWhileRunningAndMoveOrDeleteThem) {
  REQUIRE_FASHION();
  const auto dir = make_temp_dir("dir-e2e");
  const auto in_moved = dir + "/in-moved";
  const auto in_deleted = dir + "/in-deleted";
  const auto done = dir + "/done";
  fs::create_directory(in_moved);
  fs::create_directory(in_deleted);
  write_fashion_pngs(in_moved, 0, 5);  // there before sluice starts
  // Two dir sources at once.
  Serve serve(dir,
              {fmt::format("dir:{}?done={}", in_moved, done), fmt::format("dir:{}?delete=1", in_deleted)});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  EXPECT_EQ(wait_for_lines(serve.output(), 5, 60s), 5u);
  write_fashion_pngs(in_moved, 5, 20, /*by_rename=*/true);
  write_fashion_pngs(in_moved, 25, 20, /*by_rename=*/false);
  write_fashion_pngs(in_deleted, 45, 30, /*by_rename=*/true);
  EXPECT_EQ(wait_for_lines(serve.output(), 75, 120s), 75u);
  // Files go once their lines are written: bounded wait for the last ones.
  const auto until = std::chrono::steady_clock::now() + 30s;
  auto count = [](const std::string& d) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(d), fs::directory_iterator()));
  };
  while ((count(in_moved) != 0 || count(in_deleted) != 0) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(count(in_moved), 0u);
  EXPECT_EQ(count(in_deleted), 0u);
  EXPECT_EQ(count(done), 45u);
  EXPECT_TRUE(fs::exists(done + "/00044.png"));
  ASSERT_EQ(serve.stop(), 0) << read_file(serve.log());
  const auto results = parse_lines(serve.output());
  expect_classified(results, 75, 0.8);
  std::set<std::uint64_t> streams;
  for (const auto& r : results) streams.insert(r["stream"].get<std::uint64_t>());
  EXPECT_EQ(streams.size(), 2u) << "one stream per dir source";
}

}  // namespace
}  // namespace sluice::test
