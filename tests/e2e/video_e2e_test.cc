// Video sources end to end: clips made at test time by Debian's ffmpeg from the shared photos,
// the VideoSource in-process, and the real sluice binary reading files, a GStreamer RTSP server
// (killed and restarted), MPEG-TS over UDP, an overloaded live input and broken inputs.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "source/source_factory.h"
#include "source/source_spec.h"
#include "support/child_process.h"
#include "support/fake_frame_sink.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "video/video_fixtures.h"
#include "video/video_source.h"
#include "vision/preprocess.h"

// Under AddressSanitizer resident memory is mostly shadow memory and quarantine, and the model
// runs several times slower: the overload test's memory bound runs in the release build only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif

namespace sluice::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kClipFps = 25;
constexpr int kSeconds = 5;  // one per photo
constexpr int kClipPictures = kClipFps * kSeconds;

std::string model_dir() {
  return shared_dir() + "/models/mobilenetv2-12-fp32";
}

// `sluice serve` on the fp32 MobileNetV2 (stable scores on every CPU), top-1, with --http and the
// fixture's short intervals; its output and log in `dir`.
ServeProcess serve_video(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"--labels", model_dir() + "/imagenet_classes.txt", "--preprocess", "imagenet",
                             "--top-k", "1"});
  return ServeProcess({.dir = dir,
                       .args = std::move(args),
                       .listen = false,
                       .http = true,
                       .model = model_dir() + "/mobilenetv2-12-fp32.onnx",
                       .start_timeout = 120s});
}

// Polls /api/status until `done` holds; whether it did within `timeout`.
bool status_reaches(const ServeProcess& serve, const std::function<bool(const json&)>& done,
                    std::chrono::milliseconds timeout) {
  const auto last = serve.wait_for_status(done, timeout);
  return last.is_object() && done(last);
}

json find_source(const json& status, const std::string& prefix) {
  for (const auto& src : status["sources"]) {
    if (src["name"].get<std::string>().rfind(prefix, 0) == 0) return src;
  }
  return json();
}

std::vector<json> parse_lines(const std::string& path) {
  std::vector<json> out;
  for (const auto& line : read_lines(path)) out.push_back(json::parse(line));
  return out;
}

std::uint64_t name_index(const json& line) {
  const auto name = line["name"].get<std::string>();
  return std::stoull(name.substr(name.find('#') + 1));
}

// A test's scratch directory, removed when the test passed (a failed test's files stay for a look).
struct ScratchDir {
  explicit ScratchDir(const std::string& tag) : path(make_temp_dir(tag)) {}
  ~ScratchDir() {
    std::error_code ec;
    if (!::testing::Test::HasFailure()) fs::remove_all(path, ec);
  }
  std::string path;
};

// The clips every test here uses, made once per run.
class VideoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = make_temp_dir("video-clips");
    if (!fs::exists(shared_dir() + "/images/dog.jpg")) return;
    auto fail = [](std::string why) {
      if (setup_error_.empty()) setup_error_ = std::move(why);
    };
    if (auto e = make_photo_clip(dir_, "clip.mp4", 640, 480, kClipFps); !e.empty()) fail(e);
    for (int i = 0; i < kSeconds; ++i) {
      if (auto e = make_still(dir_, i, 640, 480); !e.empty()) fail(e);
    }
    // Full HD: large enough that the source prescales (to 960x540 for the ImageNet preset).
    fs::create_directories(dir_ + "/hd");
    if (auto e = make_photo_clip(dir_ + "/hd", "clip.mp4", 1920, 1080, kClipFps); !e.empty()) fail(e);
    for (int i = 0; i < kSeconds; ++i) {
      if (auto e = make_still(dir_ + "/hd", i, 1920, 1080); !e.empty()) fail(e);
    }
    const auto remux =
        run_tool({"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "3", "-i",
                  dir_ + "/clip.mp4", "-c", "copy", "-f", "mpegts", dir_ + "/long.ts"},
                 dir_);
    if (remux.code != 0) fail("remuxing long.ts: " + remux.err);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void SetUp() override {
    SLUICE_REQUIRE_PATH(shared_dir() + "/images/dog.jpg");
    SLUICE_REQUIRE_PATH(model_dir() + "/mobilenetv2-12-fp32.onnx");
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  }
  static std::string clip(const std::string& name) { return dir_ + "/" + name; }

  static std::string dir_;
  static std::string setup_error_;
};
std::string VideoTest::dir_;
std::string VideoTest::setup_error_;

// ---------------------------------------------------------------------------------------------
// The VideoSource in-process, on a FakeFrameSink.

std::unique_ptr<video::VideoSource> make_source(const std::string& text,
                                                PixelFormat pixels = PixelFormat::kRgb24,
                                                video::ResizeTarget resize_target = {}) {
  auto spec = source::parse_source_spec(text);
  EXPECT_TRUE(spec) << spec.status().to_string();
  auto options = video::parse_video_options(spec->target, spec->params, "test");
  EXPECT_TRUE(options) << options.status().to_string();
  video::VideoSourceOptions o;
  o.video = *options;
  o.pixels = pixels;
  o.name = "video test";
  o.resize_target = std::move(resize_target);
  return std::make_unique<video::VideoSource>(std::move(o));
}

// A FrameSink whose store takes `delay`: a pipeline that is behind.
class SlowSink final : public source::FrameSink {
 public:
  explicit SlowSink(std::chrono::milliseconds delay) : delay_(delay) {}
  Status store_many(std::vector<Frame>& frames) override {
    std::this_thread::sleep_for(delay_ * static_cast<int>(frames.size()));
    return inner.store_many(frames);
  }
  source::Reservation try_reserve(std::size_t bytes, std::size_t frames) override {
    return inner.try_reserve(bytes, frames);
  }
  void unreserve(std::size_t bytes) override { inner.unreserve(bytes); }
  void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) override {
    admitted(store_many(frames));
  }
  void set_wake(std::function<void()> wake) override { inner.set_wake(std::move(wake)); }
  Result<std::uint64_t> open_stream(std::string_view peer) override { return inner.open_stream(peer); }
  void close_stream(std::uint64_t stream, const Status& why) override { inner.close_stream(stream, why); }
  void report_error(const Status& error) override { inner.report_error(error); }
  observe::SourceStats& stats() override { return inner.stats(); }
  FakeFrameSink inner;

 private:
  std::chrono::milliseconds delay_;
};

bool wait_finished(const video::VideoSource& source, std::chrono::milliseconds timeout) {
  return eventually([&] { return source.finished(); }, timeout);
}

TEST_F(VideoTest, SourceDeliversEveryPictureOnceWithTimesNamesAndPixels) {
  FakeFrameSink sink;
  auto source = make_source("video:" + clip("clip.mp4"));
  ASSERT_TRUE(source->start(sink));
  ASSERT_TRUE(wait_finished(*source, 60s));
  source->stop();
  ASSERT_EQ(count_frames(clip("clip.mp4")), kClipPictures);
  const auto frames = sink.frames();
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(kClipPictures));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    EXPECT_EQ(f.stream, frames[0].stream);
    EXPECT_EQ(f.seq, i);
    ASSERT_TRUE(f.pts_ms);
    EXPECT_EQ(*f.pts_ms, static_cast<std::int64_t>(i) * 1000 / kClipFps);
    EXPECT_EQ(f.name, fmt::format("clip.mp4#{:06}", i));
    EXPECT_EQ(f.pixels, (PixelLayout{PixelFormat::kRgb24, 640, 480}));
    EXPECT_EQ(f.payload.size(), 640u * 480 * 3);
    ASSERT_TRUE(f.origin);
    EXPECT_EQ(*f.origin, clip("clip.mp4"));
  }
  EXPECT_EQ(sink.stats().state(), observe::SourceState::kStopped) << "a file ends";
  for (std::size_t r = 0; r < observe::kDropReasons; ++r) EXPECT_EQ(sink.stats().dropped[r].load(), 0u);
  EXPECT_EQ(sink.streams_opened(), 1);
  EXPECT_EQ(sink.streams_closed(), 1);
}

TEST_F(VideoTest, SourceGivesGrayPixelsToGrayModelsAndCanDecodeKeyFramesOnly) {
  FakeFrameSink sink;
  auto source = make_source("video:" + clip("clip.mp4") + "?keyframes=1", PixelFormat::kGray8);
  ASSERT_TRUE(source->start(sink));
  ASSERT_TRUE(wait_finished(*source, 60s));
  source->stop();
  const int keys = count_frames(clip("clip.mp4"), /*key_only=*/true);
  ASSERT_GE(keys, kSeconds);
  const auto frames = sink.frames();
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(keys));
  for (const auto& f : frames) {
    EXPECT_EQ(f.pixels, (PixelLayout{PixelFormat::kGray8, 640, 480}));
    EXPECT_EQ(f.payload.size(), 640u * 480);
  }
}

TEST_F(VideoTest, SourcePrescalesLargePicturesForASmallModelInput) {
  const auto imagenet = [](int w, int h) { return vision::resize_target(vision::imagenet_preset(), w, h); };
  for (const auto& [query, size] :
       {std::pair{std::string("?keyframes=1"), std::pair{960u, 540u}},
        std::pair{std::string("?keyframes=1&prescale=0"), std::pair{1920u, 1080u}}}) {
    FakeFrameSink sink;
    auto source = make_source("video:" + clip("hd/clip.mp4") + query, PixelFormat::kRgb24, imagenet);
    ASSERT_TRUE(source->start(sink));
    ASSERT_TRUE(wait_finished(*source, 60s));
    source->stop();
    const auto frames = sink.frames();
    ASSERT_FALSE(frames.empty());
    for (const auto& f : frames) {
      EXPECT_EQ(f.pixels, (PixelLayout{PixelFormat::kRgb24, size.first, size.second})) << query;
      EXPECT_EQ(f.payload.size(), f.pixels.bytes());
    }
  }
}

TEST_F(VideoTest, LoopContinuesTheTimelineAtTheNativeRate) {
  FakeFrameSink sink;
  auto source = make_source("video:" + clip("clip.mp4") + "?loop=1&realtime=1&fps=5");
  ASSERT_TRUE(source->start(sink));
  std::this_thread::sleep_for(6500ms);
  source->stop();
  const auto frames = sink.frames();
  // 5 frames/s of stream time, read in real time: ~32 in 6.5 s.
  EXPECT_GE(frames.size(), 28u);
  EXPECT_LE(frames.size(), 36u);
  for (std::size_t i = 1; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].stream, frames[0].stream) << "a loop stays one stream";
    EXPECT_EQ(frames[i].seq, i);
    EXPECT_GT(*frames[i].pts_ms, *frames[i - 1].pts_ms);
  }
  ASSERT_GT(frames.size(), 26u);
  EXPECT_EQ(*frames[25].pts_ms, 5000) << "the second pass continues where the first ended";
  EXPECT_EQ(frames[25].name, fmt::format("clip.mp4#{:06}", kClipPictures));
}

TEST_F(VideoTest, LiveSourceBehindDropsTheOldestAndCountsEveryPicture) {
  SlowSink sink(100ms);  // stores 10 frames/s of the 25 the "camera" delivers
  auto source = make_source("video:" + clip("clip.mp4") + "?realtime=1&drop=oldest");
  ASSERT_TRUE(source->start(sink));
  ASSERT_TRUE(wait_finished(*source, 60s));
  ASSERT_TRUE(eventually([&] { return sink.stats().queued_bytes.load() == 0; }, 10s));
  source->stop();
  const auto& stats = sink.stats();
  const auto stored = sink.inner.frames();
  const auto behind = stats.drops(observe::DropReason::kBehind);
  const auto stopped = stats.drops(observe::DropReason::kStopped);
  EXPECT_EQ(stored.size() + behind + stopped, static_cast<std::size_t>(kClipPictures))
      << "every picture is stored or counted as dropped";
  EXPECT_GT(behind, 40u);
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored.back().name, fmt::format("clip.mp4#{:06}", kClipPictures - 1)) << "the newest are kept";
  for (std::size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].seq, i) << "no gaps in seq";
}

TEST_F(VideoTest, CorruptPacketsAreCountedAndSkipped) {
  ScratchDir scratch("video-corrupt");
  const auto& dir = scratch.path;
  // 20 s of MPEG-TS with 64 KiB of garbage at a third and at two thirds of the file.
  std::ifstream in(clip("long.ts"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_GT(bytes.size(), 1u << 20);
  for (const auto at : {bytes.size() / 3, 2 * bytes.size() / 3}) {
    for (std::size_t i = 0; i < 65536; ++i) bytes[at + i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  std::ofstream(dir + "/corrupt.ts", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FakeFrameSink sink;
  auto source = make_source("video:" + dir + "/corrupt.ts?fps=5");
  ASSERT_TRUE(source->start(sink));
  ASSERT_TRUE(wait_finished(*source, 60s));
  source->stop();
  EXPECT_GT(sink.stats().drops(observe::DropReason::kCorrupt), 0u);
  EXPECT_EQ(sink.stats().state(), observe::SourceState::kStopped) << "the file is read to its end";
  const auto frames = sink.frames();
  EXPECT_GT(frames.size(), 80u) << "of 100: decoding goes on after each damaged part";
  ASSERT_FALSE(frames.empty());
  EXPECT_GT(*frames.back().pts_ms, 19000);
}

TEST_F(VideoTest, FileSourceIsBackPressuredAndLosesNothing) {
  SlowSink sink(10ms);
  auto source = make_source("video:" + clip("clip.mp4"));
  ASSERT_TRUE(source->start(sink));
  ASSERT_TRUE(wait_finished(*source, 60s));
  ASSERT_TRUE(sink.inner.wait_for_frames(kClipPictures, 30s));
  source->stop();
  EXPECT_EQ(sink.inner.frame_count(), static_cast<std::size_t>(kClipPictures));
  EXPECT_EQ(sink.stats().drops(observe::DropReason::kBehind), 0u);
}

// ---------------------------------------------------------------------------------------------
// The sluice binary.

TEST_F(VideoTest, ServeClassifiesEachPhotoInItsSecondAndKeepsPtsOrder) {
  ScratchDir scratch("video-classify");
  const auto& dir = scratch.path;
  const auto listen_port = free_port();
  // The default thread plan (two executors on two cores): the committer writes each stream's
  // lines in (stream, seq) order whichever executor ran their batch.
  auto serve = serve_video(
      dir, {"--listen", fmt::format("127.0.0.1:{}", listen_port), "--source",
            "video:" + clip("clip.mp4") + "?fps=5", "--source", "video:" + clip("hd/clip.mp4") + "?fps=5"});
  ASSERT_TRUE(serve.ready()) << serve.log();
  // The reference, in the same run: the stills ffmpeg made the clips from, as PNG frames.
  std::vector<std::string> send{sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", listen_port)};
  for (int i = 0; i < kSeconds; ++i) send.push_back(fmt::format("{}/still{}.png", dir_, i));
  for (int i = 0; i < kSeconds; ++i) send.push_back(fmt::format("{}/hd/still{}.png", dir_, i));
  auto sender = ChildProcess::spawn(send, dir + "/send.out", dir + "/send.err");
  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");
  const std::size_t expected = 2 * (kSeconds * 5 + kSeconds);
  EXPECT_EQ(wait_for_lines(serve.output(), expected, 180s), expected);
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();

  const auto lines = parse_lines(serve.output());
  std::map<std::string, std::map<int, int>> reference;  // clip -> photo -> top-1 of its still
  std::map<std::string, std::vector<json>> video;       // clip -> its lines, in output order
  for (const auto& l : lines) {
    ASSERT_TRUE(l.contains("top")) << l.dump();
    const auto name = l["name"].get<std::string>();
    if (l.contains("pts_ms")) {
      video[l["url"].get<std::string>()].push_back(l);
    } else {
      EXPECT_FALSE(l.contains("url")) << "lines of other sources are unchanged";
      ASSERT_EQ(name.rfind("still", 0), 0u) << name;
      // Stills arrive in order: the first five are 640x480, the next five 1920x1080.
      const int index = name[5] - '0';
      const auto of = reference[clip("clip.mp4")].count(index) ? clip("hd/clip.mp4") : clip("clip.mp4");
      reference[of][index] = l["top"][0]["index"].get<int>();
    }
  }
  ASSERT_EQ(video.size(), 2u);
  for (const auto& [url, stream] : video) {
    ASSERT_EQ(reference[url].size(), static_cast<std::size_t>(kSeconds)) << url;
    EXPECT_NEAR(static_cast<double>(stream.size()), 5.0 * kSeconds, 1.0)
        << url << ": fps x duration, within one frame";
    std::int64_t last_pts = -1;
    for (std::size_t i = 0; i < stream.size(); ++i) {
      const auto& l = stream[i];
      const auto pts = l["pts_ms"].get<std::int64_t>();
      EXPECT_GT(pts, last_pts) << "lines of a stream leave in pts order: " << l.dump();
      last_pts = pts;
      EXPECT_EQ(l["seq"].get<std::uint64_t>(), i);
      const int photo = static_cast<int>(std::min<std::int64_t>(pts / 1000, kSeconds - 1));
      EXPECT_EQ(l["top"][0]["index"].get<int>(), reference[url].at(photo))
          << url << " at " << pts << " ms shows " << photo_names()[static_cast<std::size_t>(photo)] << ": "
          << l.dump();
    }
  }
}

TEST_F(VideoTest, ServeSamplesEveryPictureEveryNthAndKeyFramesAsFfprobeCounts) {
  ScratchDir scratch("video-sampling");
  const auto& dir = scratch.path;
  for (const auto* name : {"all.mp4", "every.mp4", "keys.mp4"})
    fs::copy_file(clip("clip.mp4"), dir + "/" + name);
  auto serve = serve_video(
      dir, {"--source", "video:" + dir + "/all.mp4", "--source", "video:" + dir + "/every.mp4?every=5",
            "--source", "video:" + dir + "/keys.mp4?keyframes=1"});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const int keys = count_frames(clip("clip.mp4"), /*key_only=*/true);
  const std::size_t expected = kClipPictures + kClipPictures / 5 + static_cast<std::size_t>(keys);
  EXPECT_EQ(wait_for_lines(serve.output(), expected, 180s), expected);
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();
  std::map<std::string, std::vector<json>> by_file;
  for (const auto& l : parse_lines(serve.output())) by_file[l["url"].get<std::string>()].push_back(l);
  EXPECT_EQ(by_file[dir + "/all.mp4"].size(), static_cast<std::size_t>(kClipPictures));
  EXPECT_EQ(by_file[dir + "/every.mp4"].size(), static_cast<std::size_t>(kClipPictures / 5));
  EXPECT_EQ(by_file[dir + "/keys.mp4"].size(), static_cast<std::size_t>(keys));
  for (const auto& l : by_file[dir + "/every.mp4"]) EXPECT_EQ(name_index(l) % 5, 0u) << l.dump();
  for (auto& [file, lines] : by_file) {
    std::sort(lines.begin(), lines.end(), [](const json& a, const json& b) { return a["seq"] < b["seq"]; });
    for (std::size_t i = 1; i < lines.size(); ++i) {
      EXPECT_GT(lines[i]["pts_ms"].get<std::int64_t>(), lines[i - 1]["pts_ms"].get<std::int64_t>())
          << "pts grows with seq in " << file;
      EXPECT_EQ(lines[i]["stream"], lines[0]["stream"]);
    }
  }
}

// A GStreamer RTSP server process (tests/video/rtsp_server.py).
class RtspServer {
 public:
  RtspServer(const std::string& dir, std::uint16_t port, const std::string& file) {
    process_.emplace(ChildProcess::spawn(
        {"/usr/bin/python3", std::string(SLUICE_SOURCE_DIR) + "/tests/video/rtsp_server.py", "--port",
         std::to_string(port), "--file", file, "--user", "viewer", "--password", "s3cret-pw"},
        dir + "/rtsp.out", dir + fmt::format("/rtsp-{}.err", ++starts_)));
    ready_ = wait_until_listening(port, 30s);
  }
  bool ready() const { return ready_; }
  void kill() {
    process_->signal(SIGKILL);
    process_->wait(10s);
  }

 private:
  static inline int starts_ = 0;
  std::optional<ChildProcess> process_;
  bool ready_ = false;
};

TEST_F(VideoTest, RtspOverTcpAndUdpReconnectsAfterTheCameraRestartsAndHidesCredentials) {
  ScratchDir scratch("video-rtsp");
  const auto& dir = scratch.path;
  const auto port = free_port();
  auto camera = std::make_unique<RtspServer>(dir, port, clip("long.ts"));
  ASSERT_TRUE(camera->ready()) << read_file(dir + "/rtsp-1.err");
  const auto url = fmt::format("rtsp://viewer:s3cret-pw@127.0.0.1:{}/cam", port);
  const auto tcp_name = fmt::format("video rtsp://127.0.0.1:{}/cam?fps=5&rtsp_transport=tcp", port);
  const auto udp_name = fmt::format("video rtsp://127.0.0.1:{}/cam?fps=5&rtsp_transport=udp", port);
  auto serve = serve_video(dir, {"--source", "video:" + url + "?fps=5&rtsp_transport=tcp", "--source",
                                 "video:" + url + "?fps=5&rtsp_transport=udp"});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto frames_of = [](const json& s, const std::string& name) {
    const auto src = find_source(s, name);
    return src.is_object() ? src["frames"].get<std::uint64_t>() : 0;
  };
  ASSERT_TRUE(status_reaches(
      serve, [&](const json& s) { return frames_of(s, tcp_name) >= 10 && frames_of(s, udp_name) >= 10; },
      60s))
      << serve.status().dump() << serve.log();

  // The camera dies mid-stream: both sources go to "reconnecting".
  camera->kill();
  ASSERT_TRUE(status_reaches(
      serve,
      [&](const json& s) {
        return find_source(s, tcp_name)["state"] == "reconnecting" &&
               find_source(s, udp_name)["state"] == "reconnecting";
      },
      30s))
      << serve.status().dump();
  const auto before = serve.status();
  std::this_thread::sleep_for(1s);
  camera = std::make_unique<RtspServer>(dir, port, clip("long.ts"));
  ASSERT_TRUE(camera->ready());
  // Results resume on both.
  ASSERT_TRUE(status_reaches(
      serve,
      [&](const json& s) {
        return frames_of(s, tcp_name) >= frames_of(before, tcp_name) + 10 &&
               frames_of(s, udp_name) >= frames_of(before, udp_name) + 10;
      },
      60s))
      << serve.status().dump() << serve.log();
  const auto after = serve.status();
  for (const auto& name : {tcp_name, udp_name}) {
    const auto src = find_source(after, name);
    EXPECT_EQ(src["state"], "running") << name;
    EXPECT_GE(src["restarts"].get<std::uint64_t>(), 1u) << name;
  }
  const auto metrics = serve.get("/metrics").body;
  EXPECT_NE(metrics.find(fmt::format("sluice_source_state{{source=\"{}\",state=\"running\"}} 1", tcp_name)),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(fmt::format("sluice_source_restarts_total{{source=\"{}\"}} ", udp_name)),
            std::string::npos);
  EXPECT_EQ(metrics.find(fmt::format("sluice_source_restarts_total{{source=\"{}\"}} 0", udp_name)),
            std::string::npos)
      << "the reconnect is counted";
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();
  camera->kill();

  // Each connection was its own stream; within each, pts grows with seq.
  std::map<std::uint64_t, std::vector<json>> streams;
  for (const auto& l : parse_lines(serve.output())) {
    ASSERT_TRUE(l.contains("top")) << l.dump();
    EXPECT_EQ(l["url"], fmt::format("rtsp://127.0.0.1:{}/cam", port));
    streams[l["stream"].get<std::uint64_t>()].push_back(l);
  }
  EXPECT_GE(streams.size(), 4u) << "two sources, each reconnected once";
  for (auto& [stream, lines] : streams) {
    std::sort(lines.begin(), lines.end(), [](const json& a, const json& b) { return a["seq"] < b["seq"]; });
    for (std::size_t i = 1; i < lines.size(); ++i) {
      EXPECT_GT(lines[i]["pts_ms"].get<std::int64_t>(), lines[i - 1]["pts_ms"].get<std::int64_t>());
    }
  }
  // The password reached the camera (it requires it) and nothing else.
  for (const auto& text : {serve.log(), read_file(serve.output()), metrics, after.dump()}) {
    EXPECT_EQ(text.find("s3cret-pw"), std::string::npos);
    EXPECT_EQ(text.find("viewer:"), std::string::npos);
  }
  EXPECT_NE(serve.log().find("reconnecting with backoff"), std::string::npos);
}

TEST_F(VideoTest, MpegTsOverUdpAndTcp) {
  ScratchDir scratch("video-ts");
  const auto& dir = scratch.path;
  const auto udp_port = free_port();
  const auto tcp_port = free_port();
  const auto udp_name = fmt::format("video udp://127.0.0.1:{}", udp_port);
  const auto tcp_name = fmt::format("video tcp://127.0.0.1:{}", tcp_port);
  auto serve = serve_video(
      dir, {"--source", fmt::format("video:udp://127.0.0.1:{}?fps=5&stall_timeout=3s", udp_port), "--source",
            fmt::format("video:tcp://127.0.0.1:{}?fps=5&reconnect_max_backoff=200ms", tcp_port)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  // ffmpeg -re sends 8 s of MPEG-TS in real time: to sluice's UDP socket, and to sluice's TCP
  // connection (ffmpeg listens; sluice dials it until it answers).
  auto udp = ChildProcess::spawn(
      {"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", clip("long.ts"), "-t", "8", "-c",
       "copy", "-f", "mpegts", fmt::format("udp://127.0.0.1:{}?pkt_size=1316", udp_port)},
      "", dir + "/udp.err");
  auto tcp = ChildProcess::spawn(
      {"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", clip("long.ts"), "-t", "8", "-c",
       "copy", "-f", "mpegts", fmt::format("tcp://127.0.0.1:{}?listen=1", tcp_port)},
      "", dir + "/tcp.err");
  ASSERT_EQ(udp.wait(60s), 0) << read_file(dir + "/udp.err");
  ASSERT_EQ(tcp.wait(60s), 0) << read_file(dir + "/tcp.err");
  // 8 s at 5 frames/s on each; a stream is joined at its first key frame.
  const auto frames_of = [](const json& s, const std::string& name) {
    const auto src = find_source(s, name);
    return src.is_object() ? src["frames"].get<std::uint64_t>() : 0;
  };
  EXPECT_TRUE(status_reaches(
      serve, [&](const json& s) { return frames_of(s, udp_name) >= 30 && frames_of(s, tcp_name) >= 30; },
      30s))
      << serve.status().dump();
  // The senders are gone: the UDP source sees no data for stall_timeout, the TCP one sees its
  // connection end; both wait for the stream to come back.
  EXPECT_TRUE(status_reaches(
      serve,
      [&](const json& s) {
        return find_source(s, udp_name)["state"] == "reconnecting" &&
               find_source(s, tcp_name)["state"] == "reconnecting";
      },
      30s))
      << serve.status().dump();
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();
  std::set<std::string> urls;
  for (const auto& l : parse_lines(serve.output())) {
    ASSERT_TRUE(l.contains("top")) << l.dump();
    urls.insert(l["url"].get<std::string>());
  }
  EXPECT_EQ(urls, (std::set<std::string>{fmt::format("udp://127.0.0.1:{}", udp_port),
                                         fmt::format("tcp://127.0.0.1:{}", tcp_port)}));
}

// Peak VmRSS of a process so far, in bytes (from /proc; 0 when it is gone).
std::uint64_t resident_bytes(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

TEST_F(VideoTest, LiveOverloadDropsTheOldestCountsEveryFrameAndStaysWithinTheMemoryBudget) {
  if (kUnderAsan)
    GTEST_SKIP() << "*** SKIPPED under ASan: resident-memory bounds are checked in the release build ***";
  ScratchDir scratch("video-overload");
  const auto& dir = scratch.path;
  // 600 small pictures/s read in real time, as a camera delivers them, into one single-threaded
  // executor: cheap to decode, as dear as any to classify, so the source outruns the model on any
  // CPU (fp32 MobileNetV2 did 170/s on an idle Zen 4, where 200 pictures/s of 640 x 480 left too
  // few drops to show the policy).
  ASSERT_EQ(make_photo_clip(dir, "fast.mp4", 320, 240, 600), "");
  const int pictures = count_frames(dir + "/fast.mp4");
  ASSERT_EQ(pictures, 600 * kSeconds);
  constexpr std::uint64_t kBudget = 256ull << 20;
  // --max-batch 1: the model's working memory, measured at load with one full blank batch and
  // counted as fixed, grows with the batch (about 100 MiB more at batch 8 for MobileNetV2 at
  // 224 x 224); at batch 1 most of the 256 MiB budget is left for the source's pictures.
  auto serve =
      serve_video(dir, {"--source", "video:" + dir + "/fast.mp4?realtime=1&drop=oldest", "--executors", "1",
                        "--cores", "1", "--max-batch", "1", "--memory-budget", "256MiB"});
  ASSERT_TRUE(serve.ready()) << serve.log();
  std::uint64_t peak = 0;
  json last;
  const auto until = std::chrono::steady_clock::now() + 180s;
  while (std::chrono::steady_clock::now() < until) {
    peak = std::max(peak, resident_bytes(serve.pid()));
    last = serve.status();
    if (last.is_object() && last["sources"][0]["state"] == "stopped" && last["frames"]["in_flight"] == 0)
      break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(last["sources"][0]["state"], "stopped") << last.dump();
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();
  const auto lines = parse_lines(serve.output());
  const auto& dropped = last["sources"][0]["dropped"];
  const auto behind = dropped["behind"].get<std::uint64_t>();
  EXPECT_EQ(lines.size() + behind + dropped["stopped"].get<std::uint64_t>(),
            static_cast<std::size_t>(pictures))
      << "received = processed + dropped, exactly";
  EXPECT_EQ(lines.size(), last["sources"][0]["frames"].get<std::uint64_t>());
  EXPECT_GT(behind, static_cast<std::uint64_t>(pictures) / 4)
      << "the pipeline could not keep up: " << last.dump();
  EXPECT_EQ(dropped["corrupt"], 0);
  std::uint64_t newest = 0;
  for (const auto& l : lines) {
    ASSERT_TRUE(l.contains("top")) << l.dump();
    newest = std::max(newest, name_index(l));
  }
  EXPECT_EQ(newest, static_cast<std::uint64_t>(pictures - 1)) << "drop=oldest keeps the most recent pictures";
  EXPECT_LE(peak, kBudget) << "resident memory stays within --memory-budget";
  EXPECT_GT(peak, 0u);
}

TEST_F(VideoTest, BadInputsFailAloneWithClearErrorsWhileOtherSourcesGoOn) {
  ScratchDir scratch("video-bad");
  const auto& dir = scratch.path;
  // moov at the end (FFmpeg's default), cut off: nothing to demux.
  ASSERT_TRUE(truncate_copy(clip("clip.mp4"), dir + "/truncated.mp4", 0.4));
  {
    std::ofstream text(dir + "/notes.mp4");
    text << "these are meeting notes, not a video\n";
  }
  auto audio = run_tool({"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                         "sine=frequency=440:duration=1", dir + "/tone.wav"},
                        dir);
  ASSERT_EQ(audio.code, 0) << audio.err;
  // 16000 x 16000 (256 Mpixel, over the default --max-pixels of 64 Mpixel): the largest square
  // FFmpeg itself makes; its picture-size check refuses 16384 x 16384.
  auto huge = run_tool({"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "color=c=blue:s=16000x16000:r=1", "-frames:v", "1", "-c:v", "png", "-pix_fmt",
                        "monob", dir + "/huge.mkv"},
                       dir, 300s);
  ASSERT_EQ(huge.code, 0) << huge.err;
  const auto closed = free_port();
  auto serve = serve_video(
      dir, {"--source", "video:" + clip("clip.mp4") + "?fps=5", "--source", "video:" + dir + "/truncated.mp4",
            "--source", "video:" + dir + "/notes.mp4", "--source", "video:" + dir + "/tone.wav", "--source",
            "video:" + dir + "/huge.mkv", "--source",
            fmt::format("video:rtsp://127.0.0.1:{}/cam?max_reconnects=2&reconnect_backoff=50ms", closed)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  EXPECT_EQ(wait_for_lines(serve.output(), 25, 120s), 25u) << "the good source goes on";
  const auto failed = [](const json& s, const std::string& name) {
    return find_source(s, name)["state"] == "failed";
  };
  ASSERT_TRUE(status_reaches(
      serve,
      [&](const json& s) {
        return failed(s, "video " + dir + "/truncated.mp4") && failed(s, "video " + dir + "/notes.mp4") &&
               failed(s, "video " + dir + "/tone.wav") && failed(s, "video " + dir + "/huge.mkv") &&
               failed(s, "video rtsp://");
      },
      60s))
      << serve.status().dump();
  const auto status = serve.status();
  EXPECT_EQ(find_source(status, "video " + clip("clip.mp4"))["state"], "stopped");
  auto last_error = [&](const std::string& name) {
    return find_source(status, name)["last_error"].get<std::string>();
  };
  EXPECT_NE(last_error("video " + dir + "/truncated.mp4").find("not a video FFmpeg can read"),
            std::string::npos);
  EXPECT_NE(last_error("video " + dir + "/notes.mp4").find("not a video FFmpeg can read"), std::string::npos);
  EXPECT_NE(last_error("video " + dir + "/tone.wav").find("rule: the input must contain a video stream"),
            std::string::npos);
  EXPECT_NE(last_error("video " + dir + "/huge.mkv").find("16000x16000 = 256000000 pixels"),
            std::string::npos)
      << last_error("video " + dir + "/huge.mkv");
  EXPECT_NE(last_error("video " + dir + "/huge.mkv").find("(rule: --max-pixels)"), std::string::npos);
  EXPECT_NE(last_error("video rtsp://").find("Connection refused"), std::string::npos);
  EXPECT_EQ(find_source(status, "video rtsp://")["restarts"], 2);
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();
  const auto log = serve.log();
  EXPECT_NE(log.find("gave up after 2 reconnect(s) (max_reconnects)"), std::string::npos) << log;
  EXPECT_NE(log.find("(rule: --max-pixels)"), std::string::npos);
  for (const auto& l : parse_lines(serve.output())) EXPECT_TRUE(l.contains("top")) << l.dump();
}

TEST_F(VideoTest, SendSendsSampledPicturesAsJpegFramesFromAFileAndFromStdin) {
  ScratchDir scratch("video-send");
  const auto& dir = scratch.path;
  const auto listen_port = free_port();
  auto serve = serve_video(dir, {"--listen", fmt::format("127.0.0.1:{}", listen_port)});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const auto to = fmt::format("127.0.0.1:{}", listen_port);
  auto file = run_sluice(dir, {"send", "--to", to, clip("clip.mp4") + "?fps=5"}, 120s);
  ASSERT_EQ(file.code, 0) << file.err;
  EXPECT_NE(file.out.find("sent 25 frames"), std::string::npos) << file.out;
  // The hand-built pipeline: ffmpeg writes Motion-JPEG to a pipe, send reads it from stdin.
  const auto pipeline = fmt::format(
      "/usr/bin/ffmpeg -nostdin -loglevel error -i '{}' -vf fps=5 -f image2pipe -vcodec mjpeg - | '{}' send "
      "--to {} -",
      clip("clip.mp4"), sluice_binary(), to);
  auto piped = ChildProcess::spawn({"/bin/sh", "-c", pipeline}, dir + "/pipe.out", dir + "/pipe.err");
  ASSERT_EQ(piped.wait(120s), 0) << read_file(dir + "/pipe.err");
  EXPECT_NE(read_file(dir + "/pipe.out").find("sent 25 frames"), std::string::npos)
      << read_file(dir + "/pipe.out");
  EXPECT_EQ(wait_for_lines(serve.output(), 50, 120s), 50u);
  ASSERT_EQ(serve.stop(120s), 0) << serve.log();
  std::set<std::string> names;
  for (const auto& l : parse_lines(serve.output())) {
    EXPECT_TRUE(l.contains("top")) << l.dump();
    EXPECT_FALSE(l.contains("pts_ms")) << "frames sent over TCP are plain seed frames";
    names.insert(l["name"].get<std::string>());
  }
  for (int i = 0; i < 25; ++i) {
    EXPECT_TRUE(names.count(fmt::format("clip.mp4#{:06}", i * 5))) << i;
    EXPECT_TRUE(names.count(fmt::format("stdin#{:06}", i))) << i;
  }
}

}  // namespace
}  // namespace sluice::test
