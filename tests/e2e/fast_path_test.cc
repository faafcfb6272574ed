// The opt-in fast decode path: DCT-domain JPEG scaling (--jpeg-dct-scaling, off by default
// because its pixels are not Pillow's) must not change the model's answer. Runs the real fp32
// MobileNetV2 (the int8 one's scores differ across CPUs) on the real photographs, and on 2x
// enlargements of them (where the DCT path engages), decoding each both ways: the exact default,
// and with the scaling turned on explicitly as --jpeg-dct-scaling does.
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "model/backend.h"
#include "model/model_bundle.h"
#include "support/test_env.h"
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

  // Top-1 of a JPEG through `decoder`; `width` receives the decoded width.
  int top1(vision::ImageDecoder& decoder, const std::vector<std::uint8_t>& jpeg, int& width) {
    vision::DecodedImage image;
    EXPECT_TRUE(decoder.decode(jpeg, 3, image));
    width = image.width;
    EXPECT_TRUE(pre_.run(image, input_));
    EXPECT_TRUE(backend_->infer(input_, 1, output_));
    return static_cast<int>(std::max_element(output_.begin(), output_.end()) - output_.begin());
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

}  // namespace
}  // namespace sluice::test
