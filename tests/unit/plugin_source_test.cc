// The plugin loader and host: plugins built by the test suite, loaded at run time. Covers the
// loader's refusals, zero-copy ownership (release exactly once, only for accepted frames, destroy
// after the last release), both store paths, and the supervisor's restarts with backoff.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "source/plugin_library.h"
#include "source/plugin_source.h"
#include "source/supervised_source.h"
#include "support/fake_frame_sink.h"
#include "support/test_env.h"

namespace sluice::source {
namespace {
using namespace std::chrono_literals;
using test::eventually;
using test::FakeFrameSink;
constexpr auto kGenerous = 20s;

// The test plugin's counters, read through our own dlopen handle (which also keeps the library,
// and so its counters, loaded between tests).
struct Counters {
  std::uint64_t created, starts, stops, destroyed, released, stored, refused;
};
class TestPlugin {
 public:
  TestPlugin() : handle_(dlopen(SLUICE_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL)) {}
  ~TestPlugin() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  bool loaded() const { return handle_ != nullptr; }
  Counters counters() const {
    using Fn = void (*)(std::uint64_t*);
    std::array<std::uint64_t, 7> v{};
    reinterpret_cast<Fn>(dlsym(handle_, "sluice_test_plugin_counters"))(v.data());
    return {v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
  }

 private:
  void* handle_;
};

// n small files named f000.. with distinct bytes.
std::string make_files(std::size_t n) {
  const auto dir = test::make_temp_dir("plugin-files");
  for (std::size_t i = 0; i < n; ++i) {
    std::ofstream(fmt::format("{}/f{:03}", dir, i), std::ios::binary) << fmt::format("payload-{}", i);
  }
  return dir;
}

Result<std::unique_ptr<PluginSource>> load(const std::string& path, const PluginConfig& config) {
  auto library = PluginLibrary::load(path);
  if (!library) return library.status();
  return PluginSource::create(*library, config, "plugin test");
}

TEST(PluginLibraryTest, MissingFileIsRefusedWithThePathAndTheReason) {
  auto lib = PluginLibrary::load("/nonexistent/dir/libnothing.so");
  ASSERT_FALSE(lib);
  EXPECT_NE(lib.status().message().find("cannot load plugin '/nonexistent/dir/libnothing.so'"),
            std::string::npos);
  EXPECT_NE(lib.status().message().find("No such file"), std::string::npos) << lib.status().message();
  EXPECT_FALSE(PluginLibrary::load(""));
}

TEST(PluginLibraryTest, LibraryWithoutTheEntrySymbolIsRefused) {
  auto lib = PluginLibrary::load(SLUICE_NO_ENTRY_PLUGIN);
  ASSERT_FALSE(lib);
  EXPECT_NE(lib.status().message().find("does not export 'sluice_source_plugin'"), std::string::npos)
      << lib.status().message();
}

TEST(PluginLibraryTest, AbiVersionMismatchIsRefusedNamingBothVersions) {
  auto lib = PluginLibrary::load(SLUICE_ABI_MISMATCH_PLUGIN);
  ASSERT_FALSE(lib);
  const auto& message = lib.status().message();
  EXPECT_NE(message.find(
                fmt::format("built for sluice source plugin ABI version {}", SLUICE_SOURCE_ABI_VERSION + 1)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(fmt::format("supports ABI version {}", SLUICE_SOURCE_ABI_VERSION)),
            std::string::npos)
      << message;
}

TEST(PluginLibraryTest, GoodPluginLoadsWithItsKind) {
  auto lib = PluginLibrary::load(SLUICE_TEST_PLUGIN);
  ASSERT_TRUE(lib) << lib.status().to_string();
  EXPECT_EQ((*lib)->kind(), "test");
  EXPECT_EQ((*lib)->table().abi_version, SLUICE_SOURCE_ABI_VERSION);
}

TEST(PluginSourceTest, PluginRefusingItsConfigurationNamesTheKey) {
  auto bad_key = load(SLUICE_TEST_PLUGIN, {{"bogus", "1"}});
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.status().message().find("refused its configuration: unknown key 'bogus'"),
            std::string::npos)
      << bad_key.status().message();
  auto bad_value = load(SLUICE_TEST_PLUGIN, {{"api", "sometimes"}});
  ASSERT_FALSE(bad_value);
  EXPECT_NE(bad_value.status().message().find("bad value api=sometimes"), std::string::npos);
}

TEST(PluginSourceTest, ZeroCopyFramesAreReleasedOnceAfterSluiceDropsThemAndDestroyComesLast) {
  TestPlugin plugin;
  ASSERT_TRUE(plugin.loaded());
  const auto before = plugin.counters();
  const std::size_t n = 150;  // three store_many calls of 64, 64, 22
  auto source = load(SLUICE_TEST_PLUGIN, {{"dir", make_files(n)}, {"api", "many"}, {"zero_copy", "1"}});
  ASSERT_TRUE(source) << source.status().to_string();
  FakeFrameSink sink;
  ASSERT_TRUE((*source)->start(sink));
  ASSERT_TRUE(sink.wait_for_frames(n, kGenerous));
  {
    const auto frames = sink.frames();  // copies: they hold the payloads until this scope ends
    ASSERT_EQ(frames.size(), n);
    std::set<std::uint64_t> streams;
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(frames[i].name, fmt::format("f{:03}", i));
      EXPECT_EQ(std::string(frames[i].payload.bytes().begin(), frames[i].payload.bytes().end()),
                fmt::format("payload-{}", i));
      EXPECT_EQ(frames[i].seq, i);
      streams.insert(frames[i].stream);
    }
    EXPECT_EQ(streams.size(), 1u) << "one stream per start";
  }
  EXPECT_EQ(plugin.counters().released - before.released, 0u) << "sluice still holds every payload";

  (*source)->stop();
  source->reset();  // the source goes, but frames still point into plugin memory
  EXPECT_EQ(plugin.counters().destroyed - before.destroyed, 0u) << "destroy must wait for the last release";
  sink.clear();
  const auto after = plugin.counters();
  EXPECT_EQ(after.released - before.released, n) << "each accepted frame released exactly once";
  EXPECT_EQ(after.destroyed - before.destroyed, 1u);
  EXPECT_EQ(after.refused - before.refused, 0u);
  EXPECT_EQ(sink.streams_opened(), 1);
  EXPECT_EQ(sink.streams_closed(), 1);
}

TEST(PluginSourceTest, StoreOneCopiesWhenThereIsNoReleaseCallback) {
  TestPlugin plugin;
  const auto before = plugin.counters();
  auto source = load(SLUICE_TEST_PLUGIN, {{"dir", make_files(5)}, {"api", "one"}, {"zero_copy", "0"}});
  ASSERT_TRUE(source);
  FakeFrameSink sink;
  ASSERT_TRUE((*source)->start(sink));
  ASSERT_TRUE(sink.wait_for_frames(5, kGenerous));
  (*source)->stop();
  source->reset();  // destroy frees the plugin's buffers: the frames must hold copies
  EXPECT_EQ(plugin.counters().destroyed - before.destroyed, 1u);
  const auto frames = sink.frames();
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(std::string(frames[4].payload.bytes().begin(), frames[4].payload.bytes().end()), "payload-4");
  EXPECT_EQ(plugin.counters().released - before.released, 0u) << "copied frames have no release callback";
}

TEST(PluginSourceTest, RefusedFramesStayThePluginsAndAreNeverReleased) {
  TestPlugin plugin;
  const auto before = plugin.counters();
  for (const char* api : {"many", "one"}) {
    auto source = load(SLUICE_TEST_PLUGIN, {{"dir", make_files(10)}, {"api", api}});
    ASSERT_TRUE(source);
    FakeFrameSink sink;
    sink.set_refuse(true);
    ASSERT_TRUE((*source)->start(sink));
    ASSERT_TRUE(sink.wait_for_refusals(1, kGenerous));
    (*source)->stop();  // joins the plugin's thread, which gave up at the first refusal
    EXPECT_EQ(sink.frame_count(), 0u);
  }
  const auto after = plugin.counters();
  EXPECT_EQ(after.released - before.released, 0u);
  // store_many offered all 10 at once, store_one the first: 11 buffers came back to the plugin.
  EXPECT_EQ(after.refused - before.refused, 10u + 1u) << "the plugin got its refused buffers back";
  EXPECT_EQ(after.stored - before.stored, 0u);
}

TEST(PluginSourceTest, StoreCallsAfterStopAreRefused) {
  auto source = load(SLUICE_TEST_PLUGIN, {{"dir", make_files(3)}});
  ASSERT_TRUE(source);
  FakeFrameSink sink;
  ASSERT_TRUE((*source)->start(sink));
  ASSERT_TRUE(sink.wait_for_frames(3, kGenerous));
  (*source)->stop();
  (*source)->stop();  // idempotent
  EXPECT_EQ(sink.streams_closed(), 1);
  // Starting again gives a new stream whose seq restarts at 0.
  sink.clear();
  ASSERT_TRUE((*source)->start(sink));
  ASSERT_TRUE(sink.wait_for_frames(3, kGenerous));
  const auto frames = sink.frames();
  EXPECT_EQ(frames[0].seq, 0u);
  EXPECT_EQ(sink.streams_opened(), 2);
  // The sink must outlive a running source: stop before `sink` goes out of scope.
  (*source)->stop();
  EXPECT_EQ(sink.streams_closed(), 2);
}

RestartPolicy fast_policy(std::uint32_t max_restarts = 0) {
  RestartPolicy policy;
  policy.initial_backoff = 10ms;
  policy.max_backoff = 40ms;
  policy.max_restarts = max_restarts;
  return policy;
}

TEST(SupervisedPluginTest, FaultyPluginIsRestartedAndTheFailureIsCounted) {
  TestPlugin plugin;
  const auto before = plugin.counters();
  auto source = load(SLUICE_TEST_PLUGIN, {{"dir", make_files(20)}, {"faults", "2"}});
  ASSERT_TRUE(source);
  SupervisedSource supervised(std::move(*source), fast_policy());
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  ASSERT_TRUE(sink.wait_for_frames(20, kGenerous)) << "after two restarts the plugin delivers";
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kRunning; }, kGenerous));
  EXPECT_EQ(sink.stats().restarts.load(), 2u);
  // Each faulty run reports one error and asks for one restart: both are counted.
  EXPECT_EQ(sink.stats().errors.load(), 4u);
  EXPECT_NE(sink.stats().last_error().find("device reset needed"), std::string::npos)
      << sink.stats().last_error();
  supervised.stop();
  const auto after = plugin.counters();
  EXPECT_EQ(after.starts - before.starts, 3u);
  EXPECT_EQ(after.stops - before.stops, 3u) << "every start is matched by a stop";
  EXPECT_EQ(sink.frame_count(), 20u) << "faulty runs stored nothing";
}

TEST(SupervisedPluginTest, FailedRestartIsRetriedWithBackoff) {
  auto source = load(SLUICE_TEST_PLUGIN, {{"dir", make_files(4)}, {"faults", "1"}, {"start_errors", "2"}});
  ASSERT_TRUE(source);
  SupervisedSource supervised(std::move(*source), fast_policy());
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  ASSERT_TRUE(sink.wait_for_frames(4, kGenerous));
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kRunning; }, kGenerous));
  EXPECT_EQ(sink.stats().restarts.load(), 3u) << "one restart that failed twice: three attempts";
  EXPECT_EQ(sink.stats().errors.load(), 2u + 2u);  // the fault's report and request, two failed starts
  supervised.stop();
  EXPECT_EQ(sink.stats().state(), observe::SourceState::kRunning) << "stop() leaves the state to the engine";
}

TEST(SupervisedPluginTest, GivesUpAfterMaxRestarts) {
  auto source = load(SLUICE_TEST_PLUGIN, {{"faults", "100"}});
  ASSERT_TRUE(source);
  SupervisedSource supervised(std::move(*source), fast_policy(/*max_restarts=*/2));
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kFailed; }, kGenerous));
  EXPECT_EQ(sink.stats().restarts.load(), 2u);
  supervised.stop();  // the inner source is stopped already: stop is still clean
}

TEST(SupervisedPluginTest, SecondStartIsRefused) {
  auto source = load(SLUICE_TEST_PLUGIN, {});
  ASSERT_TRUE(source);
  SupervisedSource supervised(std::move(*source), fast_policy());
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  EXPECT_FALSE(supervised.start(sink));
  supervised.stop();
  EXPECT_EQ(sink.stats().restarts.load(), 0u);
}

}  // namespace
}  // namespace sluice::source
