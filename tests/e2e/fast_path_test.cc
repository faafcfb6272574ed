// The opt-in fast decode path: DCT-domain JPEG scaling (--jpeg-dct-scaling, off by default
// because its pixels are not Pillow's) must not change the model's answer. Runs the real fp32
// MobileNetV2 (the int8 one's scores differ across CPUs) on the real photographs, and on 2x
// enlargements of them (where the DCT path engages), decoding each both ways: the exact default,
// and with the scaling turned on explicitly as --jpeg-dct-scaling does.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/backend.h"
#include "model/model_bundle.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "support/wait.h"
#include "vision/antialiased_resize.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"

namespace sluice::test {
namespace {

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::uint8_t> encode_jpeg(const vision::DecodedImage& image) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  tjCompress2(tj, image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &buf, &size, TJSAMP_420, 95,
              0);
  std::vector<std::uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

class FastPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string model_dir = shared_dir() + "/models/mobilenetv2-12-fp32";
    if (!std::filesystem::exists(model_dir)) GTEST_SKIP() << "*** SKIPPED: " << model_dir << " is absent ***";
    model::BundleOverrides overrides;
    overrides.preprocess_preset = "imagenet";
    auto bundle = model::load_bundle(model_dir + "/mobilenetv2-12-fp32.onnx", overrides);
    ASSERT_TRUE(bundle) << bundle.status().to_string();
    auto backend = model::create_backend(*bundle, {2, 1});
    ASSERT_TRUE(backend) << backend.status().to_string();
    backend_ = std::move(*backend);
    scaled_.set_scaling_target(&spec_);  // the --jpeg-dct-scaling opt-in
  }

  // Top-1 of a JPEG through `decoder`; `width` receives the decoded width, `score` its softmax.
  int top1(vision::ImageDecoder& decoder, const std::vector<std::uint8_t>& jpeg, int& width,
           double* score = nullptr) {
    vision::DecodedImage image;
    EXPECT_TRUE(decoder.decode(jpeg, 3, image));
    width = image.width;
    EXPECT_TRUE(pre_.run(image, input_));
    EXPECT_TRUE(backend_->infer(input_, 1, output_));
    const auto best = std::max_element(output_.begin(), output_.end());
    if (score != nullptr) {
      double sum = 0.0;
      for (float l : output_) sum += std::exp(static_cast<double>(l - *best));
      *score = 1.0 / sum;
    }
    return static_cast<int>(best - output_.begin());
  }

  std::vector<std::vector<std::uint8_t>> photographs() {
    std::vector<std::vector<std::uint8_t>> out;
    for (const auto& entry : std::filesystem::directory_iterator(shared_dir() + "/images")) {
      if (entry.path().extension() == ".jpg") out.push_back(read_bytes(entry.path().string()));
    }
    return out;
  }

  const vision::PreprocessSpec spec_ = vision::imagenet_preset();
  const vision::Preprocessor pre_ = *vision::Preprocessor::create(spec_, 3, 224, 224);
  std::unique_ptr<model::Backend> backend_;
  vision::ImageDecoder full_, scaled_;
  std::vector<float> input_ = std::vector<float>(3 * 224 * 224), output_ = std::vector<float>(1000);
};

TEST_F(FastPathTest, Top1IsUnchangedOnTheTestPhotographs) {
  const auto photos = photographs();
  ASSERT_EQ(photos.size(), 5u);
  for (const auto& jpeg : photos) {
    int w_full = 0, w_scaled = 0;
    EXPECT_EQ(top1(full_, jpeg, w_full), top1(scaled_, jpeg, w_scaled));
  }
}

TEST_F(FastPathTest, DctScalingEngagesOnLargePhotographsAndKeepsTop1) {
  int scaled_count = 0;
  for (const auto& jpeg : photographs()) {
    // A 2x enlargement (1536x1152 for dog.jpg) is over four times the 256-pixel target.
    vision::DecodedImage image, big;
    vision::ResizeScratch scratch;
    ASSERT_TRUE(full_.decode(jpeg, 3, image));
    ASSERT_TRUE(vision::antialiased_resize(image, image.width * 2, image.height * 2, big, scratch));
    const auto large = encode_jpeg(big);
    int w_full = 0, w_scaled = 0;
    const int a = top1(full_, large, w_full);
    const int b = top1(scaled_, large, w_scaled);
    EXPECT_EQ(a, b) << "top-1 changed with DCT scaling (" << w_full << " -> " << w_scaled << " px wide)";
    EXPECT_EQ(w_full, big.width);
    scaled_count += w_scaled <= w_full / 2;
  }
  // dog, eagle and horses at 2x are over four times their 256-pixel target and decode at 1/2;
  // giraffe (1000x1000) and person (1280x848) are not, and decode at full size.
  EXPECT_EQ(scaled_count, 3) << "DCT scaling engages exactly on the images four times the target";
}

TEST_F(FastPathTest, ServeDecodesExactlyByDefaultAndScalesOnlyWithTheFlag) {
  using namespace std::chrono_literals;
  // dog.jpg enlarged 2x (1536x1152): DCT scaling engages on it, and its score then moves.
  const auto dog = read_bytes(shared_dir() + "/images/dog.jpg");
  vision::DecodedImage image, big;
  vision::ResizeScratch scratch;
  ASSERT_TRUE(full_.decode(dog, 3, image));
  ASSERT_TRUE(vision::antialiased_resize(image, image.width * 2, image.height * 2, big, scratch));
  const auto large = encode_jpeg(big);
  double exact_score = 0.0, dct_score = 0.0;
  int w = 0;
  const int exact = top1(full_, large, w, &exact_score);
  const int dct = top1(scaled_, large, w, &dct_score);
  ASSERT_GT(std::abs(exact_score - dct_score), 0.002)
      << "the two decodings must give scores that 3 printed decimals tell apart";

  const std::string dir = make_temp_dir("dct-flag");
  std::filesystem::create_directories(dir + "/in");
  std::ofstream(dir + "/in/dog2x.jpg", std::ios::binary)
      .write(reinterpret_cast<const char*>(large.data()), static_cast<std::streamsize>(large.size()));
  const std::string model_dir = shared_dir() + "/models/mobilenetv2-12-fp32";
  for (const bool flag : {false, true}) {
    SCOPED_TRACE(flag ? "--jpeg-dct-scaling" : "default");
    const std::string out = dir + (flag ? "/dct.jsonl" : "/exact.jsonl");
    std::vector<std::string> argv = {sluice_binary(),    "serve",
                                     "--source",         "dir:" + dir + "/in",
                                     "--model",          model_dir + "/mobilenetv2-12-fp32.onnx",
                                     "--labels",         model_dir + "/imagenet_classes.txt",
                                     "--preprocess",     "imagenet",
                                     "--top-k",          "1",
                                     "--executors",      "1",
                                     "--cores",          "1",
                                     "--batch-interval", "100ms",
                                     "--block-interval", "25ms",
                                     "--output",         out};
    if (flag) argv.push_back("--jpeg-dct-scaling");
    for (auto& extra : sanitizer_serve_flags()) argv.push_back(std::move(extra));
    auto serve = ChildProcess::spawn(argv, "", out + ".log");
    ASSERT_EQ(wait_for_lines(out, 1, 120s), 1u) << read_file(out + ".log");
    serve.signal(SIGTERM);
    EXPECT_EQ(serve.wait(60s), 0) << read_file(out + ".log");
    const auto line = nlohmann::json::parse(read_lines(out).at(0));
    ASSERT_TRUE(line.contains("top")) << line.dump();
    EXPECT_EQ(line["top"][0]["index"].get<int>(), flag ? dct : exact);
    // Scores are printed with 3 decimals.
    EXPECT_NEAR(line["top"][0]["score"].get<double>(), flag ? dct_score : exact_score, 0.0006) << line.dump();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice::test
