// End to end for sources and plugins: the real sluice binary with --source, plugins built by the
// test suite and the example plugins, the Fashion-MNIST model. (In-process pipelines with these
// sources, also run under ThreadSanitizer, are in tests/concurrency.)
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

#include "sluice/source_plugin.h"
#include "support/child_process.h"
#include "support/results.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// `sluice serve` with the given sources and no TCP listener.
ServeProcess serve_sources(const std::string& tag, const std::vector<std::string>& sources) {
  ServeOptions options{.tag = tag, .listen = false};
  for (const auto& s : sources) options.args.insert(options.args.end(), {"--source", s});
  return ServeProcess(std::move(options));
}

// The Fashion bundle is fp32 (no integer kernels: the same answers on every CPU) and classifies
// 0.89-0.90 of the test images right (PyTorch's measure when it trained it); 0.8 on these first
// few hundred images leaves room for a small sample and another training run, and still fails a
// wrong preprocessing or a frame mixed up with another.
constexpr double kMinAccuracy = 0.8;

TEST(SourcePluginEndToEnd, PluginBuiltByTheTestsFeedsFashionMnistAndEveryFrameGetsAResult) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto images = make_temp_dir("plugin-images");
  write_fashion_pngs(images, 0, 1000);
  auto serve = serve_sources("plugin-e2e", {fmt::format("plugin:{}?dir={}&api=many&zero_copy=1&chunk=100",
                                                        SLUICE_TEST_PLUGIN, images)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  EXPECT_EQ(serve.wait_for_lines(1000, 120s), 1000u);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  expect_classified(serve.lines(), 1000, kMinAccuracy);
}

TEST(SourcePluginEndToEnd, TheGuidesMinimalPluginFeedsFashionMnist) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto images = make_temp_dir("minimal-images");
  write_fashion_pngs(images, 0, 200);
  auto serve = serve_sources("minimal-e2e", {fmt::format("plugin:{}?dir={}", SLUICE_MINIMAL_PLUGIN, images)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  EXPECT_EQ(serve.wait_for_lines(200, 120s), 200u);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  expect_classified(serve.lines(), 200, kMinAccuracy);
}

// sluice serve exits with 2 and one clear message on stderr (the log is the interface: the
// operator must read why the source was refused).
std::string refused_start(const std::string& tag, const std::string& source) {
  auto serve = serve_sources(tag, {source});
  EXPECT_FALSE(serve.ready());
  EXPECT_EQ(serve.wait(60s), 2) << serve.log();
  return serve.log();
}

TEST(SourcePluginEndToEnd, AbiVersionMismatchIsRefusedNamingBothVersions) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto log = refused_start("abi", fmt::format("plugin:{}", SLUICE_ABI_MISMATCH_PLUGIN));
  EXPECT_NE(log.find(fmt::format("ABI version {}", SLUICE_SOURCE_ABI_VERSION + 1)), std::string::npos) << log;
  EXPECT_NE(log.find(fmt::format("supports ABI version {}", SLUICE_SOURCE_ABI_VERSION)), std::string::npos)
      << log;
}

TEST(SourcePluginEndToEnd, BadPluginPathMissingSymbolAndBadKeysAreRefused) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
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
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto images = make_temp_dir("restart-images");
  write_fashion_pngs(images, 0, 100);
  ServeOptions options{.tag = "restart-e2e", .listen = false, .http = true};
  options.args = {"--source",
                  fmt::format("plugin:{}?dir={}&faults=2&restart_backoff=50ms", SLUICE_TEST_PLUGIN, images)};
  ServeProcess serve(std::move(options));
  ASSERT_TRUE(serve.ready()) << serve.log();
  EXPECT_EQ(serve.wait_for_lines(100, 120s), 100u);
  const auto status = serve.wait_for_status([](const json& s) { return s["sources"][0]["frames"] == 100; });
  const auto& source = status["sources"][0];
  EXPECT_EQ(source["restarts"], 2) << status.dump();
  EXPECT_EQ(source["errors"], 4) << "each fault is reported, then asks for a restart";
  EXPECT_EQ(source["state"], "running");
  ASSERT_EQ(serve.stop(), 0);
  // The log is how an operator follows the restarts: the fault, and a backoff that doubles.
  const auto log = serve.log();
  EXPECT_NE(log.find("test plugin: simulated device fault"), std::string::npos) << log;
  EXPECT_NE(log.find("restarting in 50 ms (restart 1)"), std::string::npos) << log;
  EXPECT_NE(log.find("restarting in 100 ms (restart 2)"), std::string::npos) << "the backoff doubles\n"
                                                                             << log;
  expect_classified(serve.lines(), 100, kMinAccuracy);
}

TEST(SourcePluginEndToEnd, ShmRingDeliversFashionMnistFromTheProducer) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto ring = fmt::format("/sluice-e2e-{}", ::getpid());
  auto serve = serve_sources(
      "shm-e2e", {fmt::format("plugin:{}?ring={}&slots=1024&slot_bytes=4096", SLUICE_SHM_RING_PLUGIN, ring)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto producer = ChildProcess::spawn(
      {SLUICE_SHM_RING_PRODUCER, "--ring", ring, "--limit", "3000", "--drain", fashion_images()},
      serve.dir() + "/producer.out", serve.dir() + "/producer.err");
  ASSERT_EQ(producer.wait(180s), 0) << read_file(serve.dir() + "/producer.err");
  EXPECT_EQ(serve.wait_for_lines(3000, 60s), 3000u);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  expect_classified(serve.lines(), 3000, kMinAccuracy);
  EXPECT_FALSE(fs::exists("/dev/shm" + ring)) << "the plugin removes the ring it created";
}

TEST(SourcePluginEndToEnd, DirSourcesTakeFilesDroppedInWhileRunningAndMoveOrDeleteThem) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("dir-e2e-files");
  const auto in_moved = dir + "/in-moved";
  const auto in_deleted = dir + "/in-deleted";
  const auto done = dir + "/done";
  fs::create_directory(in_moved);
  fs::create_directory(in_deleted);
  write_fashion_pngs(in_moved, 0, 5);  // there before sluice starts
  // Two dir sources at once.
  auto serve = serve_sources(
      "dir-e2e", {fmt::format("dir:{}?done={}", in_moved, done), fmt::format("dir:{}?delete=1", in_deleted)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  EXPECT_EQ(serve.wait_for_lines(5, 60s), 5u);
  write_fashion_pngs(in_moved, 5, 20, /*by_rename=*/true);
  write_fashion_pngs(in_moved, 25, 20, /*by_rename=*/false);
  write_fashion_pngs(in_deleted, 45, 30, /*by_rename=*/true);
  EXPECT_EQ(serve.wait_for_lines(75, 120s), 75u);
  // Files go once their lines are written: bounded wait for the last ones.
  auto count = [](const std::string& d) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(d), fs::directory_iterator()));
  };
  EXPECT_TRUE(eventually([&] { return count(in_moved) == 0 && count(in_deleted) == 0; }, 30s));
  EXPECT_EQ(count(in_moved), 0u);
  EXPECT_EQ(count(in_deleted), 0u);
  EXPECT_EQ(count(done), 45u);
  EXPECT_TRUE(fs::exists(done + "/00044.png"));
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  const auto results = serve.lines();
  expect_classified(results, 75, kMinAccuracy);
  std::set<std::uint64_t> streams;
  for (const auto& r : results) streams.insert(r["stream"].get<std::uint64_t>());
  EXPECT_EQ(streams.size(), 2u) << "one stream per dir source";
}

}  // namespace
}  // namespace sluice::test
