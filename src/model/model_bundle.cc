#include "model/model_bundle.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace sluice::model {
namespace fs = std::filesystem;
namespace {

Status key_error(const std::string& file, const YAML::Node& node, const std::string& what) {
  return Status(Code::kInvalidArgument, fmt::format("{}:{}: {}", file, node.Mark().line + 1, what));
}

// Every key of `map` must be in `known`: a typo is an error, never silently ignored.
Status check_keys(const std::string& file, const YAML::Node& map, const std::set<std::string>& known,
                  const std::string& section) {
  if (!map.IsMap()) return key_error(file, map, fmt::format("'{}' must be a mapping", section));
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return key_error(
          file, kv.first,
          fmt::format("unknown key '{}{}' (known: {})", section.empty() ? "" : section + ".", key, list));
    }
  }
  return Status::ok();
}

template <typename T, std::size_t N>
Status read_floats(const std::string& file, const YAML::Node& node, std::array<T, N>& out, const char* name) {
  if (!node.IsSequence() || node.size() == 0 || node.size() > N) {
    return key_error(file, node, fmt::format("'{}' must be a list of 1 to {} numbers", name, N));
  }
  for (std::size_t i = 0; i < N; ++i) out[i] = node[i < node.size() ? i : 0].template as<T>();
  return Status::ok();
}

Result<vision::PreprocessSpec> parse_preprocess(const std::string& file, const YAML::Node& node) {
  if (node.IsScalar()) return vision::preprocess_preset(node.as<std::string>());
  if (auto st = check_keys(
          file, node,
          {"preset", "color", "resize", "resize_to", "resize_shorter", "crop", "scale", "mean", "std"},
          "preprocess");
      !st) {
    return st;
  }
  vision::PreprocessSpec spec;
  if (node["preset"]) {
    auto preset = vision::preprocess_preset(node["preset"].as<std::string>());
    if (!preset) return key_error(file, node["preset"], preset.status().message());
    spec = *preset;
  }
  if (node["color"]) {
    auto c = vision::parse_color(node["color"].as<std::string>());
    if (!c) return key_error(file, node["color"], c.status().message());
    spec.color = *c;
  }
  if (node["resize"]) {
    auto r = vision::parse_resize(node["resize"].as<std::string>());
    if (!r) return key_error(file, node["resize"], r.status().message());
    spec.resize = *r;
  }
  if (node["resize_to"]) {
    const auto& n = node["resize_to"];
    if (!n.IsSequence() || n.size() != 2) return key_error(file, n, "'resize_to' must be [width, height]");
    spec.resize_width = n[0].as<int>();
    spec.resize_height = n[1].as<int>();
  }
  if (node["resize_shorter"]) spec.resize_shorter = node["resize_shorter"].as<int>();
  if (node["crop"]) {
    const auto& n = node["crop"];
    if (!n.IsSequence() || n.size() != 2) return key_error(file, n, "'crop' must be [width, height]");
    spec.crop_width = n[0].as<int>();
    spec.crop_height = n[1].as<int>();
  }
  if (node["scale"]) spec.scale = node["scale"].as<float>();
  if (node["mean"]) {
    if (auto st = read_floats(file, node["mean"], spec.mean, "mean"); !st) return st;
  }
  if (node["std"]) {
    if (auto st = read_floats(file, node["std"], spec.std, "std"); !st) return st;
  }
  return spec;
}

Status load_config(const std::string& dir, ModelBundle& bundle) {
  const std::string file = (fs::path(dir) / kBundleConfigName).string();
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    return Status(Code::kInvalidArgument, fmt::format("model bundle '{}' has no {}", dir, kBundleConfigName));
  } catch (const YAML::Exception& e) {
    return Status(Code::kInvalidArgument, fmt::format("{}: {}", file, e.what()));
  }
  try {
    if (auto st = check_keys(
            file, root, {"backend", "model", "labels", "precision", "input", "output", "preprocess"}, "");
        !st) {
      return st;
    }
    if (root["backend"]) bundle.backend = root["backend"].as<std::string>();
    if (!root["model"]) return key_error(file, root, "missing key 'model' (the model file name)");
    bundle.model_path = (fs::path(dir) / root["model"].as<std::string>()).string();
    if (root["precision"]) bundle.precision = root["precision"].as<std::string>();
    if (root["labels"]) {
      auto labels = Labels::load((fs::path(dir) / root["labels"].as<std::string>()).string());
      if (!labels) return labels.status();
      bundle.labels = std::move(*labels);
    }
    if (const auto& in = root["input"]) {
      if (auto st = check_keys(file, in, {"name", "shape"}, "input"); !st) return st;
      if (in["name"]) bundle.input_name = in["name"].as<std::string>();
      if (in["shape"]) {
        bundle.input_chw = in["shape"].as<std::vector<std::int64_t>>();
        if (bundle.input_chw.size() != 3)
          return key_error(file, in["shape"], "'input.shape' must be [C, H, W]");
      }
    }
    if (const auto& out = root["output"]) {
      if (auto st = check_keys(file, out, {"name", "kind"}, "output"); !st) return st;
      if (out["name"]) bundle.output_name = out["name"].as<std::string>();
      if (out["kind"]) {
        auto kind = parse_output_kind(out["kind"].as<std::string>());
        if (!kind) return key_error(file, out["kind"], kind.status().message());
        bundle.output_kind = *kind;
      }
    }
    if (root["preprocess"]) {
      auto spec = parse_preprocess(file, root["preprocess"]);
      if (!spec) return spec.status();
      bundle.preprocess = *spec;
    }
  } catch (const YAML::Exception& e) {
    return Status(Code::kInvalidArgument, fmt::format("{}:{}: {}", file, e.mark.line + 1, e.msg));
  }
  return Status::ok();
}

}  // namespace

Result<OutputKind> parse_output_kind(const std::string& text) {
  if (text == "logits") return OutputKind::kLogits;
  if (text == "probabilities" || text == "probs") return OutputKind::kProbabilities;
  return Status(Code::kInvalidArgument,
                fmt::format("unknown output kind '{}' (known: logits, probabilities)", text));
}

std::string ModelBundle::describe() const {
  return fmt::format("{} ({}, {}, {} labels{})", model_path, backend, precision, labels.size(),
                     preprocess ? ", preprocess " + preprocess->describe() : "");
}

Result<ModelBundle> load_bundle(const std::string& path, const BundleOverrides& overrides) {
  ModelBundle bundle;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    bundle.directory = path;
    if (auto st = load_config(path, bundle); !st) return st;
  } else if (fs::is_regular_file(path, ec)) {
    bundle.model_path = path;
    if (fs::path(path).extension() != ".onnx") {
      return Status(Code::kInvalidArgument,
                    fmt::format("'{}' is neither a bundle directory nor an .onnx file", path));
    }
  } else {
    return Status(Code::kInvalidArgument, fmt::format("model '{}' does not exist", path));
  }
  if (!fs::is_regular_file(bundle.model_path, ec)) {
    return Status(Code::kInvalidArgument, fmt::format("model file '{}' does not exist", bundle.model_path));
  }
  if (overrides.preprocess_preset) {
    auto spec = vision::preprocess_preset(*overrides.preprocess_preset);
    if (!spec) return spec.status();
    bundle.preprocess = *spec;
  }
  if (overrides.labels_path) {
    auto labels = Labels::load(*overrides.labels_path);
    if (!labels) return labels.status();
    bundle.labels = std::move(*labels);
  }
  if (overrides.output_kind) bundle.output_kind = *overrides.output_kind;
  if (overrides.precision) bundle.precision = *overrides.precision;
  if (!bundle.preprocess) {
    return Status(
        Code::kInvalidArgument,
        fmt::format("model '{}' declares no preprocessing: pass --preprocess imagenet|none, or add a "
                    "'preprocess' section to its {}",
                    path, kBundleConfigName));
  }
  return bundle;
}

}  // namespace sluice::model
