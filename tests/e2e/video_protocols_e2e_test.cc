// End to end: FFmpeg opens only the protocols of a video source's kind (issue 18). A concat: or
// subfile: source is refused with the rule named, and an HLS playlist served over HTTP that names a
// local file gets no frame from it; a local clip and a TCP producer beside them are served.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/wait.h"
#include "video/video_fixtures.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

json source_named(const json& status, const std::string& prefix) {
  for (const auto& src : status["sources"]) {
    if (src["name"].get<std::string>().rfind(prefix, 0) == 0) return src;
  }
  return json();
}

TEST(VideoProtocols, LocalFileProtocolsAreRefusedAndTheOtherSourcesKeepRunning) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle(), "/usr/bin/ffmpeg", "/usr/bin/python3");
  const auto dir = make_temp_dir("video-protocols");
  // A 2 s clip, as a local file and as the one segment of an HLS playlist that names it by file:
  // (FFmpeg's HLS demuxer already blocks file: names without a media extension, /etc/passwd
  // included; a .ts file passes that check, so only the protocol whitelist stops it).
  const auto clip = run_tool(
      {"/usr/bin/ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
       "testsrc=size=96x96:rate=25", "-t", "2", "-c:v", "mpeg2video", "-f", "mpegts", dir + "/local.ts"},
      dir);
  ASSERT_EQ(clip.code, 0) << clip.err;
  const auto pictures = static_cast<std::size_t>(count_frames(dir + "/local.ts"));
  ASSERT_GT(pictures, 0u);
  std::ofstream(dir + "/evil.m3u8") << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                                    << "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nfile://" << dir
                                    << "/local.ts\n#EXT-X-ENDLIST\n";
  const auto web_port = free_port();
  auto web = ChildProcess::spawn({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
                                  "--directory", dir, std::to_string(web_port)},
                                 "", dir + "/web.err");
  ASSERT_TRUE(wait_until_listening(web_port, 30s)) << read_file(dir + "/web.err");

  ServeProcess serve(
      {.dir = dir,
       .args = {"--source", "video:concat:" + dir + "/local.ts|" + dir + "/local.ts", "--source",
                "video:subfile:,,start,0,end,0,,:" + dir + "/local.ts", "--source",
                fmt::format("video:http://127.0.0.1:{}/evil.m3u8?reconnect_max_backoff=200ms", web_port),
                "--source", "video:" + dir + "/local.ts"},
       .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto send = spawn_send(dir, serve.port(), {"--limit", "100", "--rate", "200", fashion_images()});
  ASSERT_EQ(send.wait(120s), 0) << read_file(dir + "/send.err");

  // The local clip's pictures and the producer's 100 frames all get their lines.
  EXPECT_EQ(serve.wait_for_lines(pictures + 100), pictures + 100) << serve.log();
  const auto status = serve.wait_for_status(
      [](const json& s) {
        const auto concat = source_named(s, "video concat:");
        const auto subfile = source_named(s, "video subfile:");
        return concat.is_object() && subfile.is_object() && concat["state"] == "failed" &&
               subfile["state"] == "failed";
      },
      60s);
  for (const std::string prefix : {"video concat:", "video subfile:"}) {
    const auto src = source_named(status, prefix);
    ASSERT_TRUE(src.is_object()) << status.dump();
    EXPECT_EQ(src["state"], "failed") << src.dump();
    EXPECT_EQ(src["frames"], 0) << src.dump();
    EXPECT_NE(src["last_error"].get<std::string>().find("rule: video:URL"), std::string::npos) << src.dump();
  }
  // The playlist is fetched (and fetched again), but its file: segment never opens.
  EXPECT_TRUE(serve.wait_for_log("not on whitelist")) << serve.log();
  const auto hls = source_named(serve.status(), "video http://");
  ASSERT_TRUE(hls.is_object());
  EXPECT_EQ(hls["frames"], 0) << hls.dump();
  EXPECT_EQ(source_named(serve.status(), "video " + dir)["frames"], pictures);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  web.signal(SIGTERM);
}

TEST(PrintedConfig, HidesPasswordsAndTokensAndSaysSo) {
  const auto dir = make_temp_dir("print-config");
  const auto serve = run_sluice(dir, {"config", "--print", "serve", "--model", "/nonexistent", "--source",
                                      "video:rtsp://viewer:pw-one@cam/live%3Ftoken=tok-two&channel=1?fps=2",
                                      "--source", "video:https://b.s3/x.mp4%3FX-Amz-Signature=sig-three"});
  ASSERT_EQ(serve.code, 0) << serve.err;
  const auto worker = run_sluice(dir, {"worker", "--print-config", "--model", "/nonexistent", "--redis",
                                       "redis://default:pw-four@db:6379/0"});
  ASSERT_EQ(worker.code, 0) << worker.err;
  for (const auto& out : {serve.out, worker.out}) {
    for (const std::string secret : {"pw-one", "tok-two", "sig-three", "pw-four"}) {
      EXPECT_EQ(out.find(secret), std::string::npos) << secret << " in:\n" << out;
    }
    EXPECT_NE(out.find("are hidden as ***"), std::string::npos) << out;
  }
  EXPECT_NE(serve.out.find("rtsp://***@cam/live%3Ftoken=***&channel=1?fps=2"), std::string::npos)
      << serve.out;
  EXPECT_NE(worker.out.find("redis://***@db:6379/0"), std::string::npos) << worker.out;
}

}  // namespace
}  // namespace sluice::test
