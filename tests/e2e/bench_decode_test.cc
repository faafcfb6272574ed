// End to end: `sluice bench decode` on the shared photographs and the fp32 MobileNetV2. Asserts what
// it reports (the CPU, the SIMD target, one exact row per target, the DCT opt-in's agreement), not
// how fast this machine is: speed ratios are for BENCHMARKS.md, measured on a quiet machine.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/simd_target.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;

std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

TEST(BenchDecode, ReportsEveryTargetAgainstDecodeAloneAndTheDctAgreement) {
  const std::string model = shared_dir() + "/models/mobilenetv2-12-fp32/mobilenetv2-12-fp32.onnx";
  SLUICE_REQUIRE_PATH(model);
  const std::string dir = make_temp_dir("bench-decode");
  const auto run = run_sluice(
      dir,
      {"bench", "decode", "--model", model, "--preprocess", "imagenet", "--images", shared_dir() + "/images",
       "--seconds", "0.5", "--rounds", "2", "--simd", "all", "--csv", dir + "/decode.csv"},
      180s);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("CPU: "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("SIMD: resize kernels on " +
                         vision::simd_target_name(vision::available_simd_targets().front())),
            std::string::npos)
      << run.out;
  // All five photographs and their enlargements: DCT scaling is an approximation, but on these the
  // fp32 model's top-1 stays (tests/e2e/fast_path_test.cc asserts the same per image).
  EXPECT_NE(run.out.find("top-1 agreement with the exact path: 10 of 10"), std::string::npos) << run.out;

  const auto lines = read_lines(dir + "/decode.csv");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0],
            "setting,simd_target,images,cpu_ms_per_image,images_per_cpu_second,ratio_to_decode_alone,"
            "wall_images_per_second,top1_agreement,top1_images");
  std::vector<std::string> exact_targets;
  int alone = 0, dct = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto c = cells(lines[i]);
    ASSERT_EQ(c.size(), 9u) << lines[i];
    EXPECT_GT(std::stod(c[3]), 0.0) << lines[i];
    EXPECT_GT(std::stod(c[5]), 0.0) << lines[i];
    if (c[0] == "decode_alone") {
      ++alone;
      EXPECT_EQ(c[5], "1.0000");
    } else if (c[0] == "exact") {
      exact_targets.push_back(c[1]);
    } else if (c[0] == "dct_scaling") {
      ++dct;
      EXPECT_EQ(c[7], "10");
      EXPECT_EQ(c[8], "10");
    }
  }
  EXPECT_EQ(alone, 1);
  EXPECT_EQ(dct, 1);
  std::vector<std::string> expected;
  for (auto t : vision::available_simd_targets()) expected.push_back(vision::simd_target_name(t));
  EXPECT_EQ(exact_targets, expected) << "one exact row per SIMD target the CPU supports";
  std::filesystem::remove_all(dir);
}

TEST(BenchDecode, UnknownSimdTargetIsAnError) {
  const std::string model = shared_dir() + "/models/mobilenetv2-12-fp32/mobilenetv2-12-fp32.onnx";
  SLUICE_REQUIRE_PATH(model);
  const std::string dir = make_temp_dir("bench-decode-bad");
  const auto run = run_sluice(dir,
                              {"bench", "decode", "--model", model, "--preprocess", "imagenet", "--images",
                               shared_dir() + "/images", "--simd", "neon"},
                              60s);
  EXPECT_NE(run.code, 0);
  EXPECT_NE((run.out + run.err).find("unknown SIMD target 'neon'"), std::string::npos) << run.out << run.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice::test
