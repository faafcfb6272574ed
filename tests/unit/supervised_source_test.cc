// The supervisor with a scripted inner source: backoff sequence, first-start failures, restarts,
// giving up, and a stop that interrupts a long backoff.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "source/backoff.h"
#include "source/supervised_source.h"
#include "support/fake_frame_sink.h"

namespace sluice::source {
namespace {
using namespace std::chrono_literals;
using test::eventually;
using test::FakeFrameSink;
constexpr auto kGenerous = 20s;

TEST(BackoffTest, DoublesUpToTheMaximumAndResets) {
  Backoff backoff(100ms, 800ms);
  EXPECT_EQ(backoff.next(), 100ms);
  EXPECT_EQ(backoff.next(), 200ms);
  EXPECT_EQ(backoff.next(), 400ms);
  EXPECT_EQ(backoff.next(), 800ms);
  EXPECT_EQ(backoff.next(), 800ms);
  backoff.reset();
  EXPECT_EQ(backoff.next(), 100ms);
}

TEST(BackoffTest, NonsenseBoundsAreClamped) {
  Backoff zero(0ms, 0ms);
  EXPECT_EQ(zero.next(), 1ms);
  Backoff inverted(500ms, 100ms);
  EXPECT_EQ(inverted.next(), 500ms);
  EXPECT_EQ(inverted.next(), 500ms);
}

// A source whose starts fail or succeed on script, and which can ask for a restart.
class ScriptedSource final : public Source {
 public:
  std::string name() const override { return "scripted"; }
  Status start(FrameSink& sink) override {
    sink_ = &sink;
    const int n = ++starts;
    if (n <= fail_first_starts) return Status(Code::kIo, "scripted start failure " + std::to_string(n));
    running = true;
    return Status::ok();
  }
  void stop() override {
    ++stops;
    running = false;
  }
  void ask_restart() { sink_->request_restart(Status(Code::kIo, "scripted fault")); }

  int fail_first_starts = 0;
  std::atomic<int> starts{0}, stops{0};
  std::atomic<bool> running{false};

 private:
  FrameSink* sink_ = nullptr;
};

RestartPolicy policy(std::chrono::milliseconds initial, std::uint32_t max_restarts = 0) {
  RestartPolicy p;
  p.initial_backoff = initial;
  p.max_backoff = initial * 4;
  p.max_restarts = max_restarts;
  return p;
}

TEST(SupervisedSourceTest, FirstStartFailureIsReturnedAndNotRetried) {
  auto inner = std::make_unique<ScriptedSource>();
  inner->fail_first_starts = 1;
  auto* scripted = inner.get();
  SupervisedSource supervised(std::move(inner), policy(10ms));
  FakeFrameSink sink;
  const Status st = supervised.start(sink);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("scripted start failure 1"), std::string::npos);
  supervised.stop();
  EXPECT_EQ(scripted->starts.load(), 1);
  EXPECT_EQ(sink.stats().restarts.load(), 0u);
}

TEST(SupervisedSourceTest, RestartRequestStopsAndStartsTheSourceAgain) {
  auto inner = std::make_unique<ScriptedSource>();
  auto* scripted = inner.get();
  SupervisedSource supervised(std::move(inner), policy(10ms));
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  EXPECT_EQ(sink.stats().state(), observe::SourceState::kRunning);
  scripted->ask_restart();
  ASSERT_TRUE(
      eventually([&] { return scripted->starts.load() == 2 && scripted->running.load(); }, kGenerous));
  EXPECT_EQ(scripted->stops.load(), 1);
  EXPECT_EQ(sink.stats().restarts.load(), 1u);
  EXPECT_EQ(sink.stats().errors.load(), 1u);
  EXPECT_NE(sink.stats().last_error().find("scripted fault"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kRunning; }, kGenerous));
  supervised.stop();
  EXPECT_EQ(scripted->stops.load(), 2);
  EXPECT_FALSE(scripted->running.load());
}

TEST(SupervisedSourceTest, GivesUpAfterMaxRestartsWhenEveryRestartFails) {
  auto inner = std::make_unique<ScriptedSource>();
  auto* scripted = inner.get();
  SupervisedSource supervised(std::move(inner), policy(5ms, /*max_restarts=*/3));
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  scripted->fail_first_starts = 1000;  // from now on every start fails
  scripted->ask_restart();
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kFailed; }, kGenerous));
  EXPECT_EQ(sink.stats().restarts.load(), 3u);
  EXPECT_EQ(scripted->starts.load(), 1 + 3);
  EXPECT_EQ(sink.stats().errors.load(), 1u + 3u);  // the request and three failed starts
  supervised.stop();
  EXPECT_EQ(scripted->stops.load(), 1) << "a source that never came back is not stopped twice";
}

TEST(SupervisedSourceTest, StopInterruptsALongBackoff) {
  auto inner = std::make_unique<ScriptedSource>();
  auto* scripted = inner.get();
  SupervisedSource supervised(std::move(inner), policy(std::chrono::hours(1)));
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  scripted->ask_restart();
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kBackoff; }, kGenerous));
  auto stopped = std::async(std::launch::async, [&] { supervised.stop(); });
  EXPECT_EQ(stopped.wait_for(kGenerous), std::future_status::ready) << "stop must not wait out the hour";
  EXPECT_EQ(scripted->starts.load(), 1);
}

TEST(SupervisedSourceTest, RequestsWhileARestartIsPendingAreMerged) {
  auto inner = std::make_unique<ScriptedSource>();
  auto* scripted = inner.get();
  SupervisedSource supervised(std::move(inner), policy(std::chrono::hours(1)));
  FakeFrameSink sink;
  ASSERT_TRUE(supervised.start(sink));
  scripted->ask_restart();
  scripted->ask_restart();
  scripted->ask_restart();
  ASSERT_TRUE(eventually([&] { return sink.stats().state() == observe::SourceState::kBackoff; }, kGenerous));
  EXPECT_EQ(sink.stats().errors.load(), 3u) << "each request is counted";
  supervised.stop();
  EXPECT_EQ(sink.stats().restarts.load(), 0u) << "and they share one restart, still in backoff";
}

}  // namespace
}  // namespace sluice::source
