// bf16 against fp32 on the same TorchScript model: the top-1 class must agree on >= 99 % of the
// first 1000 Fashion-MNIST test images; on ../shared/images (resnet50 export, when present) the
// logits must agree (cosine >= 0.999), since random weights make its top-1 class meaningless.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/backend.h"
#include "model/model_bundle.h"
#include "support/test_env.h"
#include "vision/idx_file.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBatch = 50;

std::string fashion_torch_bundle() {
  const char* v = std::getenv("SLUICE_FASHION_TORCH_BUNDLE");
  if (v != nullptr && *v != '\0') return v;
  return test::fashion_bundle() + "-torch";
}

std::string resnet50_torch_bundle() {
  return (fs::path(test::fashion_bundle()).parent_path() / "bench" / "resnet50-torch").string();
}

// One backend per precision; `error` says why they could not be made.
struct Pair {
  std::unique_ptr<model::Backend> fp32, bf16;
  model::ModelBundle bundle;
  std::string error;
};

Pair load_pair(const std::string& dir) {
  Pair p;
  if (!fs::exists(fs::path(dir) / "bundle.yaml")) {
    p.error = "no TorchScript bundle at " + dir;
    return p;
  }
  for (const char* precision : {"fp32", "bf16"}) {
    model::BundleOverrides overrides;
    overrides.precision = precision;
    auto bundle = model::load_bundle(dir, overrides);
    if (!bundle) {
      p.error = "cannot load " + dir + ": " + bundle.status().message();
      return p;
    }
    model::BackendOptions options;
    options.intra_op_threads = 2;
    options.max_batch = kBatch;
    auto backend = model::create_backend(*bundle, options);
    if (!backend) {
      p.error = std::string("cannot create the ") + precision + " backend: " + backend.status().message();
      return p;
    }
    (std::string(precision) == "fp32" ? p.fp32 : p.bf16) = std::move(*backend);
    p.bundle = std::move(*bundle);
  }
  return p;
}

// All outputs (n * classes floats), in batches of kBatch.
std::vector<float> run(model::Backend& backend, const std::vector<float>& input, std::size_t n) {
  const std::size_t in = backend.shape().input_elements();
  const auto classes = static_cast<std::size_t>(backend.shape().classes);
  std::vector<float> out(n * classes);
  for (std::size_t i = 0; i < n; i += kBatch) {
    const std::size_t b = std::min(kBatch, n - i);
    auto st = backend.infer(std::span<const float>(input).subspan(i * in, b * in), b,
                            std::span<float>(out).subspan(i * classes, b * classes));
    EXPECT_TRUE(st) << st.message();
    if (!st) return {};
  }
  return out;
}

std::vector<std::size_t> top1(model::Backend& backend, const std::vector<float>& input, std::size_t n) {
  const auto classes = static_cast<std::size_t>(backend.shape().classes);
  const auto out = run(backend, input, n);
  std::vector<std::size_t> result;
  for (std::size_t j = 0; j + classes <= out.size(); j += classes) {
    auto first = out.begin() + static_cast<std::ptrdiff_t>(j);
    result.push_back(static_cast<std::size_t>(
        std::max_element(first, first + static_cast<std::ptrdiff_t>(classes)) - first));
  }
  return result;
}

double agreement(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
  if (a.empty() || a.size() != b.size()) return 0.0;
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i] ? 1 : 0;
  return static_cast<double>(same) / static_cast<double>(a.size());
}

TEST(Bf16Agreement, FashionMnistTop1AgreesWithFp32On1000Images) {
#ifndef SLUICE_HAVE_TORCH
  GTEST_SKIP()
      << "*** SKIPPED: this build has no libtorch backend (configure with -DSLUICE_WITH_TORCH=ON) ***";
#endif
  SLUICE_REQUIRE_SETUP(fashion_torch_bundle() + "/bundle.yaml", test::fashion_images());
  Pair p = load_pair(fashion_torch_bundle());
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_TRUE(p.bundle.preprocess.has_value());
  const auto& shape = p.fp32->shape();
  auto pre = vision::Preprocessor::create(*p.bundle.preprocess, shape.channels, shape.height, shape.width);
  ASSERT_TRUE(pre) << pre.status().message();
  auto idx = vision::read_idx(test::fashion_images());
  ASSERT_TRUE(idx) << idx.status().message();
  ASSERT_EQ(idx->dims.size(), 3u);
  const std::size_t n = std::min<std::size_t>(1000, idx->items());
  ASSERT_EQ(n, 1000u);
  std::vector<float> input(n * shape.input_elements());
  vision::DecodedImage image;
  image.height = static_cast<int>(idx->dims[1]);
  image.width = static_cast<int>(idx->dims[2]);
  image.channels = 1;
  for (std::size_t i = 0; i < n; ++i) {
    auto first = idx->data.begin() + static_cast<std::ptrdiff_t>(i * idx->item_size());
    image.pixels.assign(first, first + static_cast<std::ptrdiff_t>(idx->item_size()));
    auto st =
        pre->run(image, std::span<float>(input).subspan(i * shape.input_elements(), shape.input_elements()));
    ASSERT_TRUE(st) << st.message();
  }
  auto a = top1(*p.fp32, input, n);
  auto b = top1(*p.bf16, input, n);
  ASSERT_EQ(a.size(), n);
  const double agree = agreement(a, b);
  RecordProperty("agreement", std::to_string(agree));
  EXPECT_GE(agree, 0.99) << "bf16 (" << p.bf16->describe() << ") agrees with fp32 on only " << agree * 100
                         << " % of the top-1 classes";
}

TEST(Bf16Agreement, Resnet50LogitsAgreeWithFp32OnSharedImages) {
#ifndef SLUICE_HAVE_TORCH
  GTEST_SKIP()
      << "*** SKIPPED: this build has no libtorch backend (configure with -DSLUICE_WITH_TORCH=ON) ***";
#endif
  SLUICE_REQUIRE_SETUP(resnet50_torch_bundle() + "/bundle.yaml");
  SLUICE_REQUIRE_SHARED(test::shared_path("images"));
  Pair p = load_pair(resnet50_torch_bundle());
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_TRUE(p.bundle.preprocess.has_value());
  const auto& shape = p.fp32->shape();
  auto pre = vision::Preprocessor::create(*p.bundle.preprocess, shape.channels, shape.height, shape.width);
  ASSERT_TRUE(pre) << pre.status().message();
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(test::shared_path("images"))) {
    if (e.path().extension() == ".jpg" || e.path().extension() == ".png") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  vision::ImageDecoder decoder;
  vision::DecodedImage image;
  std::vector<float> input(files.size() * shape.input_elements());
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::ifstream f(files[i], std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto st = decoder.decode(bytes, p.bundle.preprocess->channels(), image);
    ASSERT_TRUE(st) << files[i] << ": " << st.message();
    st = pre->run(image, std::span<float>(input).subspan(i * shape.input_elements(), shape.input_elements()));
    ASSERT_TRUE(st) << st.message();
  }
  // Random weights give nearly flat logits, so the top-1 class can flip on a tiny difference (it
  // does on one of the five images with PyTorch's own autocast). The logit vectors themselves must
  // agree: cosine similarity >= 0.999 per image (PyTorch's autocast gives 0.99998).
  const auto classes = static_cast<std::size_t>(shape.classes);
  const auto a = run(*p.fp32, input, files.size());
  const auto b = run(*p.bf16, input, files.size());
  ASSERT_EQ(a.size(), files.size() * classes);
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t k = i * classes; k < (i + 1) * classes; ++k) {
      ab += static_cast<double>(a[k]) * b[k];
      aa += static_cast<double>(a[k]) * a[k];
      bb += static_cast<double>(b[k]) * b[k];
    }
    ASSERT_GT(aa, 0.0);
    ASSERT_GT(bb, 0.0);
    EXPECT_GE(ab / std::sqrt(aa * bb), 0.999) << files[i] << ": bf16 logits diverge from fp32";
  }
}

}  // namespace
}  // namespace sluice
