// Video test data made at test time with Debian's ffmpeg from the shared photographs, and the
// helpers the video tests share.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace sluice::test {

/// A finished ffmpeg/ffprobe run: exit code (-1 when it outlived its timeout), stdout, stderr.
struct ToolRun {
  int code = -1;
  std::string out;
  std::string err;
};
/// Runs `argv` (argv[0] an absolute path) to completion, its output in files in `dir`.
ToolRun run_tool(const std::vector<std::string>& argv, const std::string& dir,
                 std::chrono::milliseconds timeout = std::chrono::seconds(120));

/// The photographs of ../shared/images in the order the clips show them.
const std::vector<std::string>& photo_names();

/// Copies the photos to dir/00.jpg ... 04.jpg, and the last again as 05.jpg: an image sequence
/// read at 1 picture/s then shows the last photo for a whole second too. False when one is missing.
bool copy_photos(const std::string& dir);

/// ffmpeg's filter that scales a photo into width x height and pads it (centered, black).
std::string fit_filter(int width, int height);

/// Makes `out` in `dir`: each photo for one second, fitted to width x height, yuv420p, `fps`
/// pictures per second, a key frame every second, H.264 (x264, crf 16); `extra` goes before the
/// output name (e.g. {"-f", "mpegts"}). Returns ffmpeg's stderr on failure, "" on success.
std::string make_photo_clip(const std::string& dir, const std::string& out, int width, int height, int fps,
                            const std::vector<std::string>& extra = {});

/// Makes dir/still<i>.png: photo i fitted as in the clips, through yuv420p as the clips are.
std::string make_still(const std::string& dir, int index, int width, int height);

/// Pictures in the first video stream of `path` (ffprobe -count_frames); with `key_only`, key
/// frames only. -1 on failure.
int count_frames(const std::string& path, bool key_only = false);

/// The first `fraction` of a file's bytes, written to `out`.
bool truncate_copy(const std::string& from, const std::string& out, double fraction);

}  // namespace sluice::test
