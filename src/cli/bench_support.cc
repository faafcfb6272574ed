#include "cli/bench_support.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace sluice::cli {
namespace {
using SteadyClock = std::chrono::steady_clock;

// The .jpg/.jpeg/.png files of a folder as frames, with errors that name the option.
producer::FrameSet load_image_folder(const std::string& dir, std::string_view option, std::size_t limit) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    throw std::runtime_error(fmt::format("{} {}: no such directory", option, dir));
  if (!std::filesystem::is_directory(dir, ec))
    throw std::runtime_error(
        fmt::format("{} {}: not a directory (give a folder of JPEG/PNG images)", option, dir));
  auto set = producer::load_frame_set({dir}, limit);
  if (!set) throw std::runtime_error(fmt::format("{} {}: {}", option, dir, set.status().message()));
  if (set->frames.empty())
    throw std::runtime_error(fmt::format("{} {}: no .jpg, .jpeg or .png file", option, dir));
  return std::move(*set);
}

}  // namespace

InterruptFlag::InterruptFlag(SignalWaiter& signals) {
  thread_ = std::thread([this, &signals] {
    while (!done_.load()) {
      if (signals.wait_for(std::chrono::milliseconds(100)) != 0) {
        if (!raised_.exchange(true)) std::fprintf(stderr, "interrupted: stopping the measurement\n");
      }
    }
  });
}

InterruptFlag::~InterruptFlag() {
  done_ = true;
  thread_.join();
}

std::vector<std::vector<std::uint8_t>> read_image_dir(const std::string& dir, std::string_view option) {
  auto set = load_image_folder(dir, option, 0);
  std::vector<std::vector<std::uint8_t>> out;
  out.reserve(set.frames.size());
  for (auto& frame : set.frames) out.push_back(std::move(frame.payload));
  return out;
}

producer::FrameSet load_bench_frames(const std::string& images_dir, const std::string& idx_file,
                                     std::size_t limit) {
  if (images_dir.empty() && idx_file.empty())
    throw std::runtime_error("give --images DIR (a folder of JPEG/PNG images) or --idx FILE (IDX images)");
  if (!images_dir.empty() && !idx_file.empty())
    throw std::runtime_error("--images and --idx exclude each other: give one of them");
  if (!images_dir.empty()) return load_image_folder(images_dir, "--images", limit);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(idx_file, ec))
    throw std::runtime_error(fmt::format("--idx {}: no such file", idx_file));
  auto set = producer::load_idx_frames(idx_file, limit);
  if (!set) throw std::runtime_error(fmt::format("--idx {}: {}", idx_file, set.status().message()));
  if (set->frames.empty()) throw std::runtime_error(fmt::format("--idx {}: holds no image", idx_file));
  return std::move(*set);
}

void BenchInputOptions::add_to(CLI::App& app) {
  auto* images_opt = app.add_option("--images", images, "Folder of JPEG/PNG images to send, cycled");
  auto* idx_opt = app.add_option("--idx", idx,
                                 "IDX image file to send as PNG frames, cycled (e.g. "
                                 "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz)");
  images_opt->excludes(idx_opt);
  app.add_option("--limit", limit, "Use only the first N images of --images/--idx (0 = all)")
      ->capture_default_str();
  app.add_option("--frames", frames,
                 "Frames sent by the max-rate run (and at least this many by each load run)")
      ->capture_default_str();
  app.add_option("--connections", connections, "Producer TCP connections over loopback")
      ->capture_default_str();
  app.add_option("--load-seconds", load_seconds,
                 "A load run sends about this many seconds of frames at its offered rate (at most 1000000 "
                 "frames)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
}

void BenchInputOptions::validate() const {
  if (images.empty() && idx.empty())
    throw std::runtime_error("give --images DIR (a folder of JPEG/PNG images) or --idx FILE (IDX images)");
  if (frames < 1) throw std::runtime_error("--frames must be at least 1");
  if (connections < 1) throw std::runtime_error("--connections must be at least 1");
  if (!(load_seconds > 0) || !std::isfinite(load_seconds))
    throw std::runtime_error("--load-seconds must be a positive number of seconds");
}

LoopbackSettings BenchInputOptions::settings() const {
  return LoopbackSettings{
      .connections = connections,
      .frames = frames,
      .load_seconds = load_seconds,
      .max_load_frames = 1000000,
      .stall_seconds = 30.0,
      .progress = true,
  };
}

std::string duration_label(std::chrono::microseconds d) {
  const auto us = d.count();
  if (us % 1000 != 0) return fmt::format("{}us", us);
  const auto ms = us / 1000;
  if (ms >= 1000 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  if (ms >= 1000 && ms % 100 == 0) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  return fmt::format("{}ms", ms);
}

}  // namespace sluice::cli
