// The golden test: sluice's decode + preprocessing against torchvision 0.14 + Pillow 9.4, with the
// reference generated at test time by tests/golden/torchvision_golden.py (/usr/bin/python3, or
// $SLUICE_PYTHON). Each case goes through vision::ImageDecoder and vision::Preprocessor as the
// executor calls them (full-size decoding: DCT scaling is an opt-in that is not exact) and is
// compared with the script's output:
//  - decoded pixels (Image.open(p).convert('RGB'/'L')) and the crop geometry: identical;
//  - the uint8 pixels just before ToTensor: bit-exact (the goal, reached). The general bound the
//    issue sets, at most one grey level on any value and at most 0.1 % of the values differing,
//    is checked as well, so a regression shows which of the two it breaks;
//  - the float tensor: within 1e-6 of torchvision's. sluice's table computes (v / 255 - mean) / std
//    in float32 as ToTensor and Normalize do, so equal pixels give equal floats; 1e-6 (4 ulp at
//    the largest magnitude, 2.7) leaves room only for rounding-order noise, while one grey level
//    is at least 1 / 255 / 0.353 = 0.011.
// These assertions hold on any x86-64 CPU: resizing is integer arithmetic, and libjpeg-turbo's
// accurate DCT is exact on every SIMD path. The comparison runs once per SIMD target the resize
// kernels are compiled for and the CPU supports (scalar, SSSE3, SSE4, AVX2, AVX-512), so an
// AVX-512 machine also covers the AVX2 and SSE4 paths that AVX2-only CPUs take.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/model_bundle.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"
#include "vision/simd_target.h"

namespace sluice::test {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<float> read_floats(const std::string& path) {
  const Bytes bytes = read_bytes(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// The spec each pipeline of the script stands for.
vision::PreprocessSpec spec_for(const std::string& pipeline) {
  if (pipeline == "fashion") {
    // The Fashion-MNIST bundle (tools/train_fashion_mnist.py writes these values).
    vision::PreprocessSpec spec;
    spec.color = vision::ColorOrder::kGray;
    spec.resize = vision::ResizeMode::kStretch;
    spec.resize_width = spec.resize_height = 28;
    spec.scale = 0.0039215686f;
    spec.mean = {0.2860f, 0.0f, 0.0f};
    spec.std = {0.3530f, 1.0f, 1.0f};
    return spec;
  }
  vision::PreprocessSpec spec = vision::imagenet_preset();
  if (pipeline == "crop_pad") spec.resize = vision::ResizeMode::kNone;
  return spec;
}

// The same geometry with scale 1, mean 0 and std 1: the tensor then holds the uint8 pixels.
vision::PreprocessSpec identity_of(vision::PreprocessSpec spec) {
  spec.scale = 1.0f;
  spec.mean = {0.0f, 0.0f, 0.0f};
  spec.std = {1.0f, 1.0f, 1.0f};
  return spec;
}

struct Comparison {
  std::size_t values = 0, differing = 0;
  double max_difference = 0.0;
};

class TorchvisionGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = make_temp_dir("golden");
    const char* python_env = std::getenv("SLUICE_PYTHON");
    const std::string python = python_env != nullptr ? python_env : "/usr/bin/python3";
    std::vector<std::string> argv = {
        python, std::string(SLUICE_SOURCE_DIR) + "/tests/golden/torchvision_golden.py", "--out", dir_};
    if (fs::exists(shared_dir() + "/images")) {
      argv.push_back("--images");
      argv.push_back(shared_dir() + "/images");
    }
    auto child = ChildProcess::spawn(argv, dir_ + "/stdout.txt", dir_ + "/stderr.txt");
    const auto code = child.wait(std::chrono::minutes(5));
    if (code != 0) {
      setup_error_ =
          "the golden script failed (exit " + std::to_string(code.value_or(-1)) + "): " + python +
          " with torchvision and Pillow is required; scripts/setup.sh installs python3-torchvision "
          "and python3-pil.\n" +
          read_file(dir_ + "/stderr.txt");
      return;
    }
    manifest_ = nlohmann::json::parse(read_file(dir_ + "/manifest.json"));
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  // Runs one case through sluice and compares every stage with the script's output.
  static void check_case(const nlohmann::json& c) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const vision::PreprocessSpec spec = spec_for(c["pipeline"]);
    const int channels = c["channels"], height = c["height"], width = c["width"];
    auto pre = vision::Preprocessor::create(spec, channels, height, width);
    auto identity = vision::Preprocessor::create(identity_of(spec), channels, height, width);
    ASSERT_TRUE(pre && identity);

    // Decoding, as the executor does it.
    vision::ImageDecoder decoder;
    vision::DecodedImage image;
    const Status st = decoder.decode(read_bytes(c["input"]), spec.channels(), image);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_EQ(image.width, c["decoded_size"][0].get<int>());
    ASSERT_EQ(image.height, c["decoded_size"][1].get<int>());
    const Bytes decoded = read_bytes(c["decoded"]);
    ASSERT_EQ(image.pixels.size(), decoded.size());
    const auto decoded_differing =
        std::inner_product(image.pixels.begin(), image.pixels.end(), decoded.begin(), std::size_t{0},
                           std::plus<>(), std::not_equal_to<>());
    EXPECT_EQ(decoded_differing, 0u) << "decoded pixels differ from Pillow's (mode " << c["mode"] << ")";

    // Geometry: the resized size and the crop box the script reports.
    auto g = pre->geometry(image.width, image.height);
    ASSERT_TRUE(g) << g.status().to_string();
    EXPECT_EQ(g->resized_width, c["resized_size"][0].get<int>());
    EXPECT_EQ(g->resized_height, c["resized_size"][1].get<int>());
    EXPECT_EQ(g->crop_left, c["crop_box"][0].get<int>());
    EXPECT_EQ(g->crop_top, c["crop_box"][1].get<int>());
    EXPECT_EQ(g->crop_left + width, c["crop_box"][2].get<int>());
    EXPECT_EQ(g->crop_top + height, c["crop_box"][3].get<int>());

    // The uint8 pixels before ToTensor (HWC in the file, CHW in the tensor).
    std::vector<float> tensor(pre->tensor_elements(), -1000.0f), values(pre->tensor_elements(), -1000.0f);
    ASSERT_TRUE(identity->run(image, values).is_ok());
    const Bytes pixels = read_bytes(c["pixels"]);
    ASSERT_EQ(pixels.size(), values.size());
    Comparison u8;
    const std::size_t plane = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::size_t p = i / plane, at = i % plane;
      const double d = std::abs(values[i] - pixels[at * static_cast<std::size_t>(channels) + p]);
      u8.values++;
      u8.differing += d != 0.0;
      u8.max_difference = std::max(u8.max_difference, d);
    }
    EXPECT_LE(u8.max_difference, 1.0) << "more than one grey level from torchvision";
    EXPECT_LE(static_cast<double>(u8.differing), 0.001 * static_cast<double>(u8.values))
        << u8.differing << " of " << u8.values << " values differ (bound: 0.1 %)";
    EXPECT_EQ(u8.differing, 0u) << "not bit-exact: " << u8.differing << " of " << u8.values
                                << " values differ, by at most " << u8.max_difference;

    // The normalised tensor.
    ASSERT_TRUE(pre->run(image, tensor).is_ok());
    const std::vector<float> golden = read_floats(c["tensor"]);
    ASSERT_EQ(golden.size(), tensor.size());
    double max_difference = 0.0;
    for (std::size_t i = 0; i < tensor.size(); ++i) {
      max_difference = std::max(max_difference, static_cast<double>(std::abs(tensor[i] - golden[i])));
    }
    EXPECT_LE(max_difference, 1e-6) << "the float tensor differs from torchvision's";
  }

  static std::string dir_;
  static std::string setup_error_;
  static nlohmann::json manifest_;
};

std::string TorchvisionGolden::dir_;
std::string TorchvisionGolden::setup_error_;
nlohmann::json TorchvisionGolden::manifest_;

TEST_F(TorchvisionGolden, PreprocessingIsBitExactOnEverySimdTarget) {
  const auto& cases = manifest_["cases"];
  // 26 synthetic images give 46 cases over the three pipelines, plus two per shared photograph.
  ASSERT_GE(cases.size(), 46u);
  (void)vision::apply_simd_environment();  // every target, whatever SLUICE_SIMD says
  vision::cap_simd_target(0);
  const auto targets = vision::available_simd_targets();
  ASSERT_GE(targets.size(), 2u) << "expected the scalar target and at least one SIMD target";
  for (const std::int64_t target : targets) {
    SCOPED_TRACE("SIMD target " + vision::simd_target_name(target));
    vision::cap_simd_target(target);
    ASSERT_EQ(vision::active_simd_target(), target);
    for (const auto& c : cases) check_case(c);
  }
  vision::cap_simd_target(0);
}

TEST_F(TorchvisionGolden, Fp32ModelTop1MatchesTorchvisionTensors) {
  const std::string model_dir = shared_dir() + "/models/mobilenetv2-12-fp32";
  SLUICE_REQUIRE_PATH(model_dir);
  model::BundleOverrides overrides;
  overrides.preprocess_preset = "imagenet";
  overrides.labels_path = model_dir + "/imagenet_classes.txt";
  auto bundle = model::load_bundle(model_dir + "/mobilenetv2-12-fp32.onnx", overrides);
  ASSERT_TRUE(bundle) << bundle.status().to_string();
  auto backend = model::create_backend(*bundle, {1, 1});
  ASSERT_TRUE(backend) << backend.status().to_string();
  auto pre = vision::Preprocessor::create(*bundle->preprocess, 3, 224, 224);
  ASSERT_TRUE(pre);
  std::vector<float> tensor(pre->tensor_elements()), output(1000);
  const auto top1 = [&](std::span<const float> input) {
    EXPECT_TRUE((*backend)->infer(input, 1, output).is_ok());
    return std::max_element(output.begin(), output.end()) - output.begin();
  };
  int photos = 0;
  for (const auto& c : manifest_["cases"]) {
    const std::string input = c["input"];
    if (c["pipeline"] != "imagenet" || input.find(shared_dir() + "/images/") != 0) continue;
    SCOPED_TRACE(input);
    vision::ImageDecoder decoder;
    vision::DecodedImage image;
    ASSERT_TRUE(decoder.decode(read_bytes(input), 3, image).is_ok());
    ASSERT_TRUE(pre->run(image, tensor).is_ok());
    const auto ours = top1(tensor);
    const auto reference = top1(read_floats(c["tensor"]));
    EXPECT_EQ(ours, reference) << "top-1 " << bundle->labels.at(static_cast<std::size_t>(ours)) << " against "
                               << bundle->labels.at(static_cast<std::size_t>(reference));
    ++photos;
  }
  EXPECT_EQ(photos, 5) << "expected the five shared photographs";
}

}  // namespace
}  // namespace sluice::test
