// ModelBundle: a model file, its labels, and the config that says how to feed it, as in
// Triton's model repository. `bundle.yaml` inside a directory, or a bare model file plus flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/labels.h"
#include "model/top_k.h"
#include "sluice/status.h"
#include "vision/preprocess.h"

namespace sluice::model {

inline constexpr const char* kBundleConfigName = "bundle.yaml";

struct ModelBundle {
  std::string directory;  // "" for a bare model file
  std::string backend = "onnxruntime";
  std::string model_path;
  std::string precision = "fp32";
  std::string input_name;               // "" = the model's first input
  std::string output_name;              // "" = the model's first output
  std::vector<std::int64_t> input_chw;  // empty = read from the model
  OutputKind output_kind = OutputKind::kLogits;
  std::optional<vision::PreprocessSpec>
      preprocess;  // unset = the model needs no image preprocessing declared
  Labels labels;

  std::string describe() const;
};

/// Command-line settings that override (or, for a bare model file, supply) the bundle config.
struct BundleOverrides {
  std::optional<std::string> preprocess_preset;  // --preprocess
  std::optional<std::string> labels_path;        // --labels
  std::optional<OutputKind> output_kind;         // --output-kind
  std::optional<std::string> precision;          // --precision fp32|bf16|auto
};

/// Loads a bundle directory or a bare .onnx file. Errors name the file, the key and its line.
Result<ModelBundle> load_bundle(const std::string& path, const BundleOverrides& overrides);

Result<OutputKind> parse_output_kind(const std::string& text);

}  // namespace sluice::model
