// The rate controller: Spark's PID estimator (cases mirror Spark's PIDRateEstimatorSuite) and
// the token bucket that enforces its rate.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "engine/pid_rate_estimator.h"
#include "engine/rate_limiter.h"

namespace sluice::engine {
namespace {
using namespace std::chrono_literals;

TEST(PidRateEstimatorTest, FirstBatchOnlySeedsTheEstimator) {
  PidRateEstimator p(20, {});
  EXPECT_FALSE(p.compute(10, 20, 10, 0));
  EXPECT_TRUE(p.compute(20, 20, 10, 0));
}

TEST(PidRateEstimatorTest, NoEstimateWithoutNewsFromTheBatch) {
  PidRateEstimator p(20, {});
  EXPECT_FALSE(p.compute(10, 20, 10, 0));
  EXPECT_FALSE(p.compute(10, 20, 10, 0)) << "same batch time";
  EXPECT_FALSE(p.compute(20, 0, 10, 0)) << "no records";
  EXPECT_FALSE(p.compute(30, 20, 0, 0)) << "no processing delay";
}

TEST(PidRateEstimatorTest, NeverBelowTheMinimumRate) {
  PidRateEstimator p(20, {1.0, 1.0, 0.0, 10.0});
  // One record per 20 ms of processing, with a growing scheduling delay, pushes the rate down.
  EXPECT_FALSE(p.compute(0, 1, 20, 0));
  for (int i = 1; i < 50; ++i) {
    auto rate = p.compute(i * 20, 1, 20, i * 100);
    ASSERT_TRUE(rate);
    EXPECT_GE(*rate, 10.0);
  }
}

TEST(PidRateEstimatorTest, FollowsTheProcessingSpeedWithoutError) {
  // Spark: "with no accumulated or positive error, |I| > 0, follow the processing speed".
  PidRateEstimator p(20, {1.0, 1.0, 0.0, 10.0});
  EXPECT_FALSE(p.compute(0, 1, 20, 0));
  for (int i = 1; i < 50; ++i) {
    auto rate = p.compute(i * 20, 1, 20, 0);
    ASSERT_TRUE(rate);
    EXPECT_DOUBLE_EQ(*rate, 50.0);  // 1 record per 20 ms
  }
}

TEST(PidRateEstimatorTest, StaysBelowTheProcessingSpeedWithABacklog) {
  // Spark: "with some accumulated and some positive error, |I| > 0, stay below the processing speed".
  PidRateEstimator p(20, {1.0, 0.01, 0.0, 10.0});
  EXPECT_FALSE(p.compute(0, 1, 20, 0));
  double last = 0;
  for (int i = 1; i < 50; ++i) {
    auto rate = p.compute(i * 20, 1, 20, i * 100);
    ASSERT_TRUE(rate);
    EXPECT_LT(*rate, 50.0);
    if (i > 1) {
      EXPECT_LE(*rate, last) << "a growing backlog never raises the rate";
    }
    last = *rate;
  }
}

TEST(PidRateEstimatorTest, SparkDefaultsAreTheDefaults) {
  const PidSettings defaults;
  EXPECT_DOUBLE_EQ(defaults.proportional, 1.0);
  EXPECT_DOUBLE_EQ(defaults.integral, 0.2);
  EXPECT_DOUBLE_EQ(defaults.derivative, 0.0);
  EXPECT_DOUBLE_EQ(defaults.min_rate, 100.0);
}

TEST(RateLimiterTest, ZeroRateIsUnlimited) {
  RateLimiter limiter(0.0);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(limiter.acquire(1000.0));
}

TEST(RateLimiterTest, HoldsACallerBackAndCloseReleasesIt) {
  RateLimiter limiter(1.0);              // one permit a second
  ASSERT_TRUE(limiter.acquire(1000.0));  // admitted, and leaves a debt of ~1000 s
  std::atomic<bool> returned{false};
  auto waiter = std::async(std::launch::async, [&] {
    const bool ok = limiter.acquire(1.0);
    returned = true;
    return ok;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned) << "the debt must hold the caller";
  limiter.close();
  ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(waiter.get());
}

TEST(RateLimiterTest, RaisingTheRateReleasesAWaiter) {
  RateLimiter limiter(0.5);
  ASSERT_TRUE(limiter.acquire(100.0));
  auto waiter = std::async(std::launch::async, [&] { return limiter.acquire(1.0); });
  std::this_thread::sleep_for(50ms);
  limiter.set_rate(0.0);  // unlimited
  ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
  EXPECT_DOUBLE_EQ(limiter.rate(), 0.0);
}

TEST(RateLimiterTest, LongRunRateHoldsWithinABound) {
  // 2000 permits/s for 300 permits: at least ~100 ms (the first second's burst is one token).
  RateLimiter limiter(2000.0);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(limiter.acquire(1.0));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 140ms) << "it may never run faster than its rate";
}

}  // namespace
}  // namespace sluice::engine
