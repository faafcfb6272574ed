#include "producer/frame_set.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "vision/idx_file.h"
#include "vision/image_encoder.h"
#include "wire/frame_codec.h"

namespace sluice::producer {
namespace fs = std::filesystem;
namespace {

Result<std::vector<std::uint8_t>> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kIo, fmt::format("cannot read '{}'", path.string()));
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

bool is_image_file(const fs::path& p) {
  auto ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

}  // namespace

std::uint64_t FrameSet::bytes() const {
  std::uint64_t n = 0;
  for (const auto& f : frames) n += f.payload.size();
  return n;
}

Result<FrameSet> load_idx_frames(const std::string& path, std::size_t limit) {
  auto idx = vision::read_idx(path);
  if (!idx) return idx.status();
  if (idx->dims.size() != 3) {
    return Status(Code::kInvalidArgument,
                  fmt::format("'{}' holds {}-d data; an image IDX file is 3-d (N, rows, cols)", path,
                              idx->dims.size()));
  }
  const int rows = static_cast<int>(idx->dims[1]);
  const int cols = static_cast<int>(idx->dims[2]);
  const std::size_t n = limit ? std::min(limit, idx->items()) : idx->items();
  FrameSet set;
  set.frames.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto pixels =
        std::span<const std::uint8_t>(idx->data).subspan(i * idx->item_size(), idx->item_size());
    auto png = vision::encode_png(pixels, cols, rows, 1);
    if (!png) return png.status();
    set.frames.push_back({std::to_string(i), std::move(*png)});
  }
  return set;
}

Result<FrameSet> load_frame_set(const std::vector<std::string>& paths, std::size_t limit) {
  FrameSet set;
  auto add_file = [&](const fs::path& p) -> Status {
    auto bytes = read_file(p);
    if (!bytes) return bytes.status();
    std::string name = p.filename().string();
    if (name.size() > wire::kNameBytes) name.resize(wire::kNameBytes);
    set.frames.push_back({std::move(name), std::move(*bytes)});
    return Status::ok();
  };
  for (const auto& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(path)) {
        if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (auto st = add_file(f); !st) return st;
      }
    } else if (fs::is_regular_file(path, ec)) {
      if (vision::looks_like_idx(path)) {
        auto idx = load_idx_frames(path, limit);
        if (!idx) return idx.status();
        for (auto& f : idx->frames) set.frames.push_back(std::move(f));
      } else if (auto st = add_file(path); !st) {
        return st;
      }
    } else {
      return Status(Code::kInvalidArgument, fmt::format("'{}' does not exist", path));
    }
  }
  if (limit && set.frames.size() > limit) set.frames.resize(limit);
  if (set.frames.empty()) return Status(Code::kInvalidArgument, "nothing to send: no image files found");
  return set;
}

}  // namespace sluice::producer
