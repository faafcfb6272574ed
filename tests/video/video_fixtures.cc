#include "video/video_fixtures.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "support/child_process.h"
#include "support/test_env.h"

namespace sluice::test {
namespace fs = std::filesystem;

ToolRun run_tool(const std::vector<std::string>& argv, const std::string& dir,
                 std::chrono::milliseconds timeout) {
  static int counter = 0;
  const auto base = fmt::format("{}/tool-{}", dir, ++counter);
  auto child = ChildProcess::spawn(argv, base + ".out", base + ".err");
  ToolRun r;
  r.code = child.wait(timeout).value_or(-1);
  r.out = read_file(base + ".out");
  r.err = read_file(base + ".err");
  return r;
}

const std::vector<std::string>& photo_names() {
  static const std::vector<std::string> names{"dog", "eagle", "giraffe", "horses", "person"};
  return names;
}

bool copy_photos(const std::string& dir) {
  const auto& names = photo_names();
  for (std::size_t i = 0; i <= names.size(); ++i) {
    const auto from = fs::path(shared_dir()) / "images" / (names[std::min(i, names.size() - 1)] + ".jpg");
    std::error_code ec;
    fs::copy_file(from, fs::path(dir) / fmt::format("{:02}.jpg", i), fs::copy_options::overwrite_existing,
                  ec);
    if (ec) return false;
  }
  return true;
}

std::string fit_filter(int width, int height) {
  return fmt::format("scale={0}:{1}:force_original_aspect_ratio=decrease,pad={0}:{1}:(ow-iw)/2:(oh-ih)/2",
                     width, height);
}

std::string make_photo_clip(const std::string& dir, const std::string& out, int width, int height, int fps,
                            const std::vector<std::string>& extra) {
  if (!copy_photos(dir)) return "the shared photos are missing";
  const int seconds = static_cast<int>(photo_names().size());
  std::vector<std::string> argv{"/usr/bin/ffmpeg",
                                "-nostdin",
                                "-hide_banner",
                                "-loglevel",
                                "error",
                                "-y",
                                "-framerate",
                                "1",
                                "-i",
                                dir + "/%02d.jpg",
                                "-vf",
                                fit_filter(width, height) + ",format=yuv420p",
                                "-r",
                                std::to_string(fps),
                                "-frames:v",
                                std::to_string(seconds * fps),
                                "-c:v",
                                "libx264",
                                "-preset",
                                "veryfast",
                                "-crf",
                                "16",
                                "-g",
                                std::to_string(fps)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(dir + "/" + out);
  const auto r = run_tool(argv, dir);
  return r.code == 0 ? std::string() : fmt::format("ffmpeg failed ({}): {}", r.code, r.err);
}

std::string make_still(const std::string& dir, int index, int width, int height) {
  const auto photo =
      fs::path(shared_dir()) / "images" / (photo_names().at(static_cast<std::size_t>(index)) + ".jpg");
  const auto r = run_tool({"/usr/bin/ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i",
                           photo.string(), "-vf", fit_filter(width, height) + ",format=yuv420p", "-frames:v",
                           "1", fmt::format("{}/still{}.png", dir, index)},
                          dir);
  return r.code == 0 ? std::string() : fmt::format("ffmpeg failed ({}): {}", r.code, r.err);
}

int count_frames(const std::string& path, bool key_only) {
  std::vector<std::string> argv{"/usr/bin/ffprobe", "-v", "error"};
  if (key_only) argv.insert(argv.end(), {"-skip_frame", "nokey"});
  argv.insert(argv.end(), {"-count_frames", "-select_streams", "v:0", "-show_entries",
                           "stream=nb_read_frames", "-of", "csv=p=0", path});
  const auto r = run_tool(argv, fs::path(path).parent_path().string());
  if (r.code != 0) return -1;
  try {
    return std::stoi(r.out);
  } catch (const std::exception&) {
    return -1;
  }
}

bool truncate_copy(const std::string& from, const std::string& out, double fraction) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.empty()) return false;
  std::ofstream o(out, std::ios::binary);
  o.write(bytes.data(), static_cast<std::streamsize>(static_cast<double>(bytes.size()) * fraction));
  return static_cast<bool>(o);
}

}  // namespace sluice::test
