// The SIMD target of the preprocessing kernels: names, SLUICE_SIMD values, and the cap.
#include "vision/simd_target.h"

#include <gtest/gtest.h>

namespace sluice::vision {
namespace {

TEST(SimdTargetTest, ParsesTheNamesSluiceSimdTakes) {
  for (const char* name : {"avx512", "avx3", "avx2", "sse4", "ssse3", "scalar"}) {
    auto target = parse_simd_target(name);
    ASSERT_TRUE(target) << name;
    EXPECT_FALSE(simd_target_name(*target).empty());
  }
  EXPECT_EQ(simd_target_name(*parse_simd_target("avx512")), "AVX3");
  EXPECT_EQ(simd_target_name(*parse_simd_target("avx2")), "AVX2");
  auto bad = parse_simd_target("neon");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("avx2"), std::string::npos) << bad.status().message();
}

TEST(SimdTargetTest, CapHoldsAndListsOnlyTargetsBelowIt) {
  (void)apply_simd_environment();  // a SLUICE_SIMD in the test's environment is lifted below
  cap_simd_target(0);
  const auto all = available_simd_targets();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(active_simd_target(), all.front()) << "dispatch uses the best target by default";
  for (const std::int64_t target : all) {
    SCOPED_TRACE(simd_target_name(target));
    cap_simd_target(target);
    EXPECT_EQ(active_simd_target(), target);
    // Listing the targets must not undo the cap (Highway 1.0.3 re-chooses when asked).
    const auto capped = available_simd_targets();
    ASSERT_FALSE(capped.empty());
    EXPECT_EQ(capped.front(), target);
    EXPECT_EQ(active_simd_target(), target);
  }
  cap_simd_target(0);
  EXPECT_EQ(active_simd_target(), all.front());
}

}  // namespace
}  // namespace sluice::vision
