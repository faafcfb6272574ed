// Issue 18 in units: secrets in URLs never shown, the Host header policy of --http, FFmpeg's
// protocol whitelist per source kind, and the modes of the files and directories sluice creates.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "http/host_policy.h"
#include "sluice/file_system.h"
#include "support/test_env.h"
#include "video/protocol_whitelist.h"
#include "video/url_redaction.h"

namespace sluice {
namespace {

TEST(UrlRedaction, HidesEverySecretInEveryUrlForm) {
  const std::vector<std::pair<std::string, std::string>> table = {
      // userinfo, in any scheme
      {"rtsp://admin:s3cret@10.0.0.5:554/Streaming/101", "rtsp://10.0.0.5:554/Streaming/101"},
      {"rtsp://user@cam/live", "rtsp://cam/live"},
      {"http://u:p@cam/a.mjpg", "http://cam/a.mjpg"},
      {"https://u:p@cam:8443/a", "https://cam:8443/a"},
      {"redis://user:pw@db:6379/0", "redis://db:6379/0"},
      {"redis://:pw@db", "redis://db"},
      {"rediss://default:pw@db:6380", "rediss://db:6380"},
      {"udp://u:p@239.0.0.1:5000", "udp://239.0.0.1:5000"},
      {"tcp://u:p@host:554?timeout=0", "tcp://host:554?timeout=0"},
      {"srt://u:p@host:9000?passphrase=abcdefghij", "srt://host:9000?passphrase=***"},
      {"rtmp://u:p@host/live/key", "rtmp://host/live/key"},
      {"rtsp://a:p@ss@cam/live", "rtsp://cam/live"},
      // secret query values, any case, other values kept
      {"http://cam/video.mjpg?user=admin&password=x&resolution=640",
       "http://cam/video.mjpg?user=***&password=***&resolution=640"},
      {"https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F20260101&X-Amz-Date=1"
       "&X-Amz-Security-Token=FQoG&X-Amz-Signature=abc123",
       "https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Date=1"
       "&X-Amz-Security-Token=***&X-Amz-Signature=***"},
      {"https://cdn/x.m3u8?sig=ff&se=2026&sv=1", "https://cdn/x.m3u8?sig=***&se=2026&sv=1"},
      {"http://cam/a?TOKEN=t&Key=k&apikey=a&api_key=b&secret=s&auth=x&pwd=1&pass=2&passwd=3",
       "http://cam/"
       "a?TOKEN=***&Key=***&apikey=***&api_key=***&secret=***&auth=***&pwd=***&pass=***&passwd=***"},
      {"http://cam/a?access_token=t&client_secret=c&refresh_token=r&signature=s&credential=c",
       "http://cam/a?access_token=***&client_secret=***&refresh_token=***&signature=***&credential=***"},
      {"http://cam/a?channel=1;token=t#frag", "http://cam/a?channel=1;token=***#frag"},
      {"http://cam/a?to%6Ben=t&x=1", "http://cam/a?to%6Ben=***&x=1"},  // a percent-encoded key
      {"http://cam/a?token=", "http://cam/a?token="},
      // the camera URL's own query, written %3F inside a video source, then sluice's query
      {"video:rtsp://u:p@cam/live%3Ftoken=abc&channel=1?fps=5",
       "video:rtsp://cam/live%3Ftoken=***&channel=1?fps=5"},
      {"rtsp://cam/live%3fchannel=1%26token%3Dabc?fps=5", "rtsp://cam/live%3fchannel=1%26token%3D***?fps=5"},
      {"video http://cam/x%3Fsig=1%26key=2", "video http://cam/x%3Fsig=***%26key=***"},
      // free text with several URLs
      {"Connection to tcp://u:p@host:554?timeout=0 failed, see rtsp://a:b@c/d?auth=z",
       "Connection to tcp://host:554?timeout=0 failed, see rtsp://c/d?auth=***"},
      // not URLs: as they are
      {"/data/clips/a@b.mp4", "/data/clips/a@b.mp4"},
      {"udp://127.0.0.1:5000", "udp://127.0.0.1:5000"},
      {"tcp-connect:127.0.0.1:9000", "tcp-connect:127.0.0.1:9000"},
      {"", ""},
  };
  for (const auto& [url, expected] : table) EXPECT_EQ(video::redact_url(url), expected) << url;
}

TEST(UrlRedaction, MaskedUserInfoShowsWhereTheSecretWas) {
  using video::UserInfo;
  EXPECT_EQ(video::redact_text("redis://user:pw@db:6379/0", UserInfo::kMask), "redis://***@db:6379/0");
  EXPECT_EQ(video::redact_text("video:rtsp://u:p@cam/live%3Fsig=1?fps=2", UserInfo::kMask),
            "video:rtsp://***@cam/live%3Fsig=***?fps=2");
  EXPECT_EQ(video::redact_text("[video:rtsp://a:b@c/d, dir:/in]", UserInfo::kMask),
            "[video:rtsp://***@c/d, dir:/in]");
}

TEST(UrlRedaction, SecretKeysAreRecognisedWithoutCase) {
  for (const std::string key : {"password", "X-Amz-Signature", "x-amz-credential", "X-Amz-Security-Token",
                                "sig", "Token", "id_token", "apiKey", "passphrase", "Authorization"}) {
    EXPECT_TRUE(video::is_secret_key(key)) << key;
  }
  for (const std::string key : {"fps", "channel", "resolution", "every", "rtsp_transport", "se", "sv"}) {
    EXPECT_FALSE(video::is_secret_key(key)) << key;
  }
}

TEST(UrlRedaction, BaseNamesComeFromTheRedactedUrl) {
  EXPECT_EQ(video::url_basename("rtsp://u:p@cam:554/live/ch1?x=1"), "ch1");
  EXPECT_EQ(video::url_basename("rtsp://u:p@cam:554"), "cam:554");
}

TEST(HostPolicy, AllowsLoopbackTheBoundAddressAndListedNamesOnly) {
  const http::HostPolicy policy("192.168.1.7", {"Sluice.Example", "[fe80::1]:9090"});
  for (const std::string host :
       {"localhost", "LOCALHOST:9090", "127.0.0.1:1", "[::1]", "[::1]:8080", "::1", "192.168.1.7:9090",
        "sluice.example", "sluice.example:80", "localhost.", "[fe80::1]:1", ""}) {
    EXPECT_TRUE(policy.allows(host)) << host;
  }
  for (const std::string host : {"evil.example", "127.0.0.1.evil.example", "sluice.example.evil",
                                 "192.168.1.8", "127.0.0.2", "[::2]", ":9090"}) {
    EXPECT_FALSE(policy.allows(host)) << host;
  }
}

TEST(ProtocolWhitelist, FitsTheSourceKindAndRefusesLocalFileProtocols) {
  EXPECT_EQ(*video::protocol_whitelist("/data/clip.mp4"), "file");
  EXPECT_EQ(*video::protocol_whitelist("clip.mp4"), "file");
  EXPECT_EQ(*video::protocol_whitelist("file:/data/clip.mp4"), "file");
  EXPECT_EQ(*video::protocol_whitelist("pipe:0"), "pipe");
  EXPECT_EQ(*video::protocol_whitelist("udp://127.0.0.1:5000"), "udp");
  EXPECT_EQ(*video::protocol_whitelist("tcp://127.0.0.1:5000"), "tcp");
  const auto rtsp = *video::protocol_whitelist("RTSP://cam/live");
  EXPECT_NE(rtsp.find("rtp"), std::string::npos);
  EXPECT_EQ(rtsp.find("file"), std::string::npos);
  const auto https = *video::protocol_whitelist("https://cdn/live.m3u8");
  EXPECT_NE(https.find("tls"), std::string::npos);
  EXPECT_EQ(https.find("file"), std::string::npos);
  for (const std::string url : {"concat:/etc/passwd|/etc/group", "subfile:,start,0,end,0,:/etc/passwd",
                                "data:text/plain,abc", "ftp://host/a.mp4", "gopher://x"}) {
    const auto refused = video::protocol_whitelist(url);
    ASSERT_FALSE(refused) << url;
    EXPECT_NE(refused.status().message().find("rule: video:URL"), std::string::npos)
        << refused.status().message();
  }
}

TEST(FileModes, FilesAndDirectoriesThatHoldFramesAreTheOwnersOnly) {
  const mode_t old = ::umask(022);
  const auto dir = test::make_temp_dir("modes");
  auto& fs = fs::FileSystem::posix();
  const std::string wal = dir + "/a/b/wal";
  ASSERT_TRUE(fs.create_dirs(wal));
  ASSERT_TRUE(fs.create_dirs(wal)) << "an existing directory is fine";
  {
    auto file = fs.open_writable(wal + "/segment", fs::OpenMode::kAppend);
    ASSERT_TRUE(file);
    const std::uint8_t byte = 1;
    ASSERT_TRUE((*file)->append({&byte, 1}));
  }
  const std::uint8_t byte = 2;
  ASSERT_TRUE(fs.write_file_atomically(dir + "/state", {&byte, 1}));
  ::umask(old);
  auto mode = [](const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  };
  EXPECT_EQ(mode(wal + "/segment"), 0600u);
  EXPECT_EQ(mode(dir + "/state"), 0600u);
  EXPECT_EQ(mode(wal), 0700u);
  EXPECT_EQ(mode(dir + "/a"), 0700u);
  EXPECT_EQ(mode(dir + "/a/b"), 0700u);
  auto blocked = fs.create_dirs(dir + "/state/x");
  EXPECT_FALSE(blocked);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
