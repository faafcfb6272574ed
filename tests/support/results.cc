#include "support/results.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <span>

#include <fmt/format.h>

#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/idx_file.h"
#include "vision/image_encoder.h"

namespace sluice::test {
namespace {

const vision::IdxArray* load_once(const std::string& path) {
  static std::map<std::string, std::optional<vision::IdxArray>> cache;
  static std::mutex mu;
  std::lock_guard lock(mu);
  auto& slot = cache[path];
  if (!slot) {
    auto idx = vision::read_idx(path);
    if (!idx) {
      ADD_FAILURE() << path << ": " << idx.status().to_string();
      return nullptr;
    }
    slot = std::move(*idx);
  }
  return &*slot;
}

}  // namespace

std::vector<json> read_json_lines(const std::string& path, bool settled) {
  std::vector<json> out;
  const auto lines = read_lines(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool last = i + 1 == lines.size();
    auto r = json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    if (r.is_discarded()) {
      if (!settled && last) continue;
      ADD_FAILURE() << path << ":" << i + 1 << " is not JSON: " << lines[i];
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::map<std::string, json> by_name(const std::vector<json>& lines) {
  std::map<std::string, json> out;
  for (const auto& r : lines) out[r.value("name", "")] = r;
  return out;
}

std::map<FrameKey, std::vector<json>> by_key(const std::vector<json>& lines) {
  std::map<FrameKey, std::vector<json>> keys;
  for (const auto& r : lines)
    keys[{r["stream"].get<std::uint64_t>(), r["seq"].get<std::uint64_t>()}].push_back(r);
  return keys;
}

void expect_complete(const std::map<FrameKey, std::vector<json>>& keys, std::size_t streams,
                     std::uint64_t per_stream) {
  std::map<std::uint64_t, std::uint64_t> per;
  for (const auto& [key, results] : keys) {
    EXPECT_LT(key.second, per_stream) << "stream " << key.first;
    ++per[key.first];
  }
  EXPECT_EQ(per.size(), streams);
  for (const auto& [stream, n] : per) EXPECT_EQ(n, per_stream) << "stream " << stream;
}

json to_json(const FrameResult& result) {
  json line{{"stream", result.stream}, {"seq", result.seq}, {"name", result.name}, {"batch", result.batch}};
  if (!result.ok()) {
    line["error"] = result.error;
    return line;
  }
  json top = json::array();
  for (const auto& p : result.top)
    top.push_back({{"index", p.index}, {"label", std::string(p.label)}, {"score", p.score}});
  line["top"] = std::move(top);
  return line;
}

std::vector<std::uint8_t> fashion_png(std::size_t index) {
  const auto* idx = load_once(fashion_images());
  if (idx == nullptr || idx->dims.size() != 3 || index >= idx->items()) return {};
  const auto pixels =
      std::span<const std::uint8_t>(idx->data).subspan(index * idx->item_size(), idx->item_size());
  auto png = vision::encode_png(pixels, static_cast<int>(idx->dims[2]), static_cast<int>(idx->dims[1]), 1);
  return png ? *png : std::vector<std::uint8_t>{};
}

void write_fashion_pngs(const std::string& dir, std::size_t first, std::size_t n, bool by_rename) {
  namespace fs = std::filesystem;
  for (std::size_t i = first; i < first + n; ++i) {
    const auto png = fashion_png(i);
    ASSERT_FALSE(png.empty()) << "Fashion-MNIST test image " << i;
    const auto name = fmt::format("{:05}.png", i);
    const auto path = fs::path(dir) / (by_rename ? "." + name : name);
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
    if (by_rename) fs::rename(path, fs::path(dir) / name);
  }
}

double fashion_accuracy(const std::vector<json>& lines) {
  const auto* truth = load_once(fashion_labels());
  if (truth == nullptr || lines.empty()) return 0.0;
  std::size_t correct = 0;
  for (const auto& r : lines) {
    if (!r.contains("top") || r["top"].empty()) continue;
    const auto index = std::stoul(r["name"].get<std::string>());
    if (index < truth->data.size() && r["top"][0]["index"].get<int>() == truth->data[index]) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(lines.size());
}

void expect_classified(const std::vector<json>& lines, std::size_t n, double min_accuracy) {
  ASSERT_EQ(lines.size(), n);
  std::set<std::string> names;
  for (const auto& r : lines) {
    ASSERT_TRUE(r.contains("top")) << r.dump();
    names.insert(r["name"].get<std::string>());
  }
  EXPECT_EQ(names.size(), n) << "every frame answered exactly once";
  EXPECT_GE(fashion_accuracy(lines), min_accuracy);
}

std::optional<double> fashion_recorded_accuracy() {
  // "# test accuracy after 2 epoch(s): 0.8978"
  std::ifstream in(fashion_bundle() + "/bundle.yaml");
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("# test accuracy after ");
    const auto colon = line.rfind(": ");
    if (at == 0 && colon != std::string::npos) return std::stod(line.substr(colon + 2));
  }
  return std::nullopt;
}

}  // namespace sluice::test
