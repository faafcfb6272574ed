// Tests for load_bundle (bundle.yaml parsing and the bare-model path) and Labels::load.
#include "model/model_bundle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sluice/status.h"
#include "support/test_env.h"

namespace sluice::model {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  ASSERT_TRUE(out) << "cannot write " << path;
  out << text;
}

constexpr const char* kGoodBundle =
    "# a test bundle\n"
    "backend: onnxruntime\n"
    "model: model.onnx\n"
    "labels: labels.txt\n"
    "precision: fp16\n"
    "input:\n"
    "  name: pixels\n"
    "  shape: [1, 28, 28]\n"
    "output:\n"
    "  name: probs\n"
    "  kind: probabilities\n"
    "preprocess:\n"
    "  color: gray\n"
    "  resize: stretch\n"
    "  resize_to: [28, 28]\n"
    "  scale: 0.5\n"
    "  mean: [0.25]\n"
    "  std: [0.125]\n";

class ModelBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = test::make_temp_dir("bundle");
    ASSERT_FALSE(root_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // A bundle directory holding a fake model, ten labels and `yaml` as its bundle.yaml.
  std::string make_bundle(const std::string& name, const std::string& yaml) {
    const fs::path dir = fs::path(root_) / name;
    fs::create_directories(dir);
    write_file(dir / "model.onnx", "not really onnx");
    std::string labels;
    for (int i = 0; i < 10; ++i) labels += "class" + std::to_string(i) + "\n";
    write_file(dir / "labels.txt", labels);
    write_file(dir / "bundle.yaml", yaml);
    return dir.string();
  }

  std::string root_;
};

TEST_F(ModelBundleTest, GoodBundleParses) {
  const std::string dir = make_bundle("good", kGoodBundle);
  auto bundle = load_bundle(dir, {});
  ASSERT_TRUE(bundle.is_ok()) << bundle.status().to_string();
  EXPECT_EQ(bundle->directory, dir);
  EXPECT_EQ(bundle->backend, "onnxruntime");
  EXPECT_EQ(fs::path(bundle->model_path), fs::path(dir) / "model.onnx");
  EXPECT_EQ(bundle->precision, "fp16");
  EXPECT_EQ(bundle->input_name, "pixels");
  EXPECT_EQ(bundle->output_name, "probs");
  EXPECT_EQ(bundle->input_chw, (std::vector<std::int64_t>{1, 28, 28}));
  EXPECT_EQ(bundle->output_kind, OutputKind::kProbabilities);
  ASSERT_TRUE(bundle->preprocess.has_value());
  const auto& spec = *bundle->preprocess;
  EXPECT_EQ(spec.color, vision::ColorOrder::kGray);
  EXPECT_EQ(spec.resize, vision::ResizeMode::kStretch);
  EXPECT_EQ(spec.resize_width, 28);
  EXPECT_EQ(spec.resize_height, 28);
  EXPECT_EQ(spec.crop_width, 0);
  EXPECT_FLOAT_EQ(spec.scale, 0.5f);
  EXPECT_FLOAT_EQ(spec.mean[0], 0.25f);
  EXPECT_FLOAT_EQ(spec.std[0], 0.125f);
  ASSERT_EQ(bundle->labels.size(), 10u);
  EXPECT_EQ(bundle->labels.at(0), "class0");
  EXPECT_EQ(bundle->labels.at(9), "class9");
  EXPECT_EQ(bundle->labels.at(10), "");
}

TEST_F(ModelBundleTest, MinimalBundleUsesDefaults) {
  const std::string dir = make_bundle("minimal", "model: model.onnx\npreprocess: imagenet\n");
  auto bundle = load_bundle(dir, {});
  ASSERT_TRUE(bundle.is_ok()) << bundle.status().to_string();
  EXPECT_EQ(bundle->backend, "onnxruntime");
  EXPECT_EQ(bundle->precision, "fp32");
  EXPECT_EQ(bundle->output_kind, OutputKind::kLogits);
  EXPECT_TRUE(bundle->input_chw.empty());
  EXPECT_EQ(bundle->labels.size(), 0u);
  ASSERT_TRUE(bundle->preprocess.has_value());
  EXPECT_EQ(bundle->preprocess->crop_width, 224);
}

TEST_F(ModelBundleTest, PreprocessPresetWithOverrides) {
  const std::string dir = make_bundle("preset",
                                      "model: model.onnx\n"
                                      "preprocess:\n"
                                      "  preset: imagenet\n"
                                      "  color: bgr\n");
  auto bundle = load_bundle(dir, {});
  ASSERT_TRUE(bundle.is_ok()) << bundle.status().to_string();
  EXPECT_EQ(bundle->preprocess->color, vision::ColorOrder::kBgr);
  EXPECT_EQ(bundle->preprocess->resize_shorter, 256);
}

TEST_F(ModelBundleTest, UnknownTopLevelKeyNamesTheKeyAndLine) {
  const std::string dir = make_bundle("typo",
                                      "model: model.onnx\n"
                                      "labels: labels.txt\n"
                                      "preprocess: none\n"
                                      "lables: labels.txt\n");
  auto bundle = load_bundle(dir, {});
  ASSERT_FALSE(bundle.is_ok());
  const std::string& message = bundle.status().message();
  EXPECT_EQ(bundle.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(message, "'lables'")) << message;
  EXPECT_TRUE(contains(message, "bundle.yaml:4")) << message;
}

TEST_F(ModelBundleTest, UnknownPreprocessKeyIsQualified) {
  const std::string dir = make_bundle("pretypo",
                                      "model: model.onnx\n"
                                      "preprocess:\n"
                                      "  color: rgb\n"
                                      "  mena: [0.5, 0.5, 0.5]\n");
  auto bundle = load_bundle(dir, {});
  ASSERT_FALSE(bundle.is_ok());
  const std::string& message = bundle.status().message();
  EXPECT_TRUE(contains(message, "preprocess.mena")) << message;
  EXPECT_TRUE(contains(message, "bundle.yaml:4")) << message;
}

TEST_F(ModelBundleTest, UnknownInputAndOutputKeysAreQualified) {
  auto in = load_bundle(
      make_bundle("intypo", "model: model.onnx\npreprocess: none\ninput:\n  shap: [1, 2, 3]\n"), {});
  ASSERT_FALSE(in.is_ok());
  EXPECT_TRUE(contains(in.status().message(), "input.shap")) << in.status().message();

  auto out = load_bundle(
      make_bundle("outtypo", "model: model.onnx\npreprocess: none\noutput:\n  knd: logits\n"), {});
  ASSERT_FALSE(out.is_ok());
  EXPECT_TRUE(contains(out.status().message(), "output.knd")) << out.status().message();
}

TEST_F(ModelBundleTest, BadValuesAreErrors) {
  EXPECT_FALSE(
      load_bundle(make_bundle("kind", "model: model.onnx\npreprocess: none\noutput:\n  kind: logs\n"), {})
          .is_ok());
  EXPECT_FALSE(
      load_bundle(make_bundle("shape", "model: model.onnx\npreprocess: none\ninput:\n  shape: [28, 28]\n"),
                  {})
          .is_ok());
  EXPECT_FALSE(
      load_bundle(make_bundle("color", "model: model.onnx\npreprocess:\n  color: purple\n"), {}).is_ok());
  EXPECT_FALSE(load_bundle(make_bundle("preset", "model: model.onnx\npreprocess: fancy\n"), {}).is_ok());
  EXPECT_FALSE(
      load_bundle(make_bundle("mean", "model: model.onnx\npreprocess:\n  mean: [1, 2, 3, 4]\n"), {}).is_ok());
}

TEST_F(ModelBundleTest, MalformedYamlIsAnError) {
  auto bundle = load_bundle(make_bundle("malformed", "model: [unclosed\n"), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_TRUE(contains(bundle.status().message(), "bundle.yaml")) << bundle.status().message();
}

TEST_F(ModelBundleTest, MissingModelKeyIsAnError) {
  auto bundle = load_bundle(make_bundle("nomodel", "labels: labels.txt\npreprocess: none\n"), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_EQ(bundle.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(bundle.status().message(), "'model'")) << bundle.status().message();
}

TEST_F(ModelBundleTest, MissingModelFileIsAnError) {
  auto bundle = load_bundle(make_bundle("nofile", "model: other.onnx\npreprocess: none\n"), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_TRUE(contains(bundle.status().message(), "other.onnx")) << bundle.status().message();
}

TEST_F(ModelBundleTest, MissingLabelsFileIsAnError) {
  auto bundle =
      load_bundle(make_bundle("nolabels", "model: model.onnx\nlabels: missing.txt\npreprocess: none\n"), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_TRUE(contains(bundle.status().message(), "missing.txt")) << bundle.status().message();
}

TEST_F(ModelBundleTest, DirectoryWithoutBundleYamlIsAnError) {
  const fs::path dir = fs::path(root_) / "empty";
  fs::create_directories(dir);
  auto bundle = load_bundle(dir.string(), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_TRUE(contains(bundle.status().message(), "bundle.yaml")) << bundle.status().message();
}

TEST_F(ModelBundleTest, BareOnnxNeedsPreprocess) {
  const fs::path model = fs::path(root_) / "bare.onnx";
  write_file(model, "fake model bytes");
  auto bundle = load_bundle(model.string(), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_EQ(bundle.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(contains(bundle.status().message(), "--preprocess")) << bundle.status().message();
}

TEST_F(ModelBundleTest, BareOnnxWithOverridesLoads) {
  const fs::path model = fs::path(root_) / "bare.onnx";
  write_file(model, "fake model bytes");
  const fs::path labels = fs::path(root_) / "labels.txt";
  write_file(labels, "a\nb\nc\n");
  BundleOverrides overrides;
  overrides.preprocess_preset = "imagenet";
  overrides.labels_path = labels.string();
  overrides.output_kind = OutputKind::kProbabilities;
  auto bundle = load_bundle(model.string(), overrides);
  ASSERT_TRUE(bundle.is_ok()) << bundle.status().to_string();
  EXPECT_EQ(bundle->directory, "");
  EXPECT_EQ(bundle->model_path, model.string());
  ASSERT_TRUE(bundle->preprocess.has_value());
  EXPECT_EQ(bundle->preprocess->resize_shorter, 256);
  EXPECT_EQ(bundle->labels.size(), 3u);
  EXPECT_EQ(bundle->output_kind, OutputKind::kProbabilities);
}

TEST_F(ModelBundleTest, BareOnnxWithUnknownPresetFails) {
  const fs::path model = fs::path(root_) / "bare.onnx";
  write_file(model, "x");
  BundleOverrides overrides;
  overrides.preprocess_preset = "nope";
  EXPECT_FALSE(load_bundle(model.string(), overrides).is_ok());
}

TEST_F(ModelBundleTest, OverridesReplaceBundleSettings) {
  const std::string dir = make_bundle("override", kGoodBundle);
  BundleOverrides overrides;
  overrides.output_kind = OutputKind::kLogits;
  overrides.preprocess_preset = "none";
  auto bundle = load_bundle(dir, overrides);
  ASSERT_TRUE(bundle.is_ok()) << bundle.status().to_string();
  EXPECT_EQ(bundle->output_kind, OutputKind::kLogits);
  EXPECT_EQ(bundle->preprocess->color, vision::ColorOrder::kRgb);
}

TEST_F(ModelBundleTest, NonOnnxFileIsAnError) {
  const fs::path model = fs::path(root_) / "model.bin";
  write_file(model, "x");
  BundleOverrides overrides;
  overrides.preprocess_preset = "none";
  auto bundle = load_bundle(model.string(), overrides);
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_TRUE(contains(bundle.status().message(), ".onnx")) << bundle.status().message();
}

TEST_F(ModelBundleTest, NonexistentPathIsAnError) {
  auto bundle = load_bundle((fs::path(root_) / "does-not-exist").string(), {});
  ASSERT_FALSE(bundle.is_ok());
  EXPECT_TRUE(contains(bundle.status().message(), "does-not-exist")) << bundle.status().message();
}

TEST_F(ModelBundleTest, ParsesOutputKinds) {
  EXPECT_EQ(*parse_output_kind("logits"), OutputKind::kLogits);
  EXPECT_EQ(*parse_output_kind("probabilities"), OutputKind::kProbabilities);
  EXPECT_EQ(*parse_output_kind("probs"), OutputKind::kProbabilities);
  EXPECT_FALSE(parse_output_kind("softmax").is_ok());
}

TEST_F(ModelBundleTest, LabelsStripTrailingEmptyLinesAndCarriageReturns) {
  const fs::path path = fs::path(root_) / "labels.txt";
  write_file(path, "T-shirt\r\nTrouser\r\n\r\nBag\r\n\r\n\n\n");
  auto labels = Labels::load(path.string());
  ASSERT_TRUE(labels.is_ok()) << labels.status().to_string();
  ASSERT_EQ(labels->size(), 4u);
  EXPECT_EQ(labels->at(0), "T-shirt");
  EXPECT_EQ(labels->at(1), "Trouser");
  EXPECT_EQ(labels->at(2), "");  // an empty line in the middle keeps its index
  EXPECT_EQ(labels->at(3), "Bag");
  EXPECT_EQ(labels->at(4), "");
}

TEST_F(ModelBundleTest, LabelsWithoutFinalNewline) {
  const fs::path path = fs::path(root_) / "labels.txt";
  write_file(path, "one\ntwo");
  auto labels = Labels::load(path.string());
  ASSERT_TRUE(labels.is_ok());
  ASSERT_EQ(labels->size(), 2u);
  EXPECT_EQ(labels->at(1), "two");
}

TEST_F(ModelBundleTest, MissingLabelsFileFailsToLoad) {
  auto labels = Labels::load((fs::path(root_) / "nope.txt").string());
  ASSERT_FALSE(labels.is_ok());
  EXPECT_TRUE(contains(labels.status().message(), "nope.txt")) << labels.status().message();
}

}  // namespace
}  // namespace sluice::model
