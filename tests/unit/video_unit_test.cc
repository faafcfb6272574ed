// The video source's parts that need no clip: URL redaction, option parsing, sampling, the drop
// queue, frame names, JPEG encoding, pixel conversion; and the core's handling of raw frames
// (WAL records, spill files, result lines).
#include <gtest/gtest.h>

#include <thread>

#include <fmt/format.h>

#include "sink/json_lines_sink.h"
#include "source/source_factory.h"
#include "source/source_spec.h"
#include "store/spill_file.h"
#include "store/wal_record.h"
#include "store/write_ahead_log.h"
#include "support/test_env.h"
#include "video/drop_queue.h"
#include "video/frame_name.h"
#include "video/frame_sampler.h"
#include "video/jpeg_encoder.h"
#include "video/pixel_converter.h"
#include "video/prescale.h"
#include "video/url_redaction.h"
#include "video/video_options.h"
#include "video/video_sender.h"
#include "vision/image_decoder.h"

namespace sluice::video {
namespace {
using namespace std::chrono_literals;
using Params = std::vector<std::pair<std::string, std::string>>;

Frame raw_frame(std::uint32_t width, std::uint32_t height, std::uint8_t shade) {
  Frame f;
  f.stream = 4;
  f.seq = 2;
  f.name = "cam#000002";
  f.pixels = {PixelFormat::kRgb24, width, height};
  f.payload = Payload(std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3, shade));
  f.pts_ms = 80;
  f.origin = std::make_shared<const std::string>("rtsp://cam.local/live");
  return f;
}

TEST(UrlRedaction, RemovesUserInfoAndSecretQueryValues) {
  EXPECT_EQ(redact_url("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101"),
            "rtsp://10.0.0.5:554/Streaming/101");
  EXPECT_EQ(redact_url("rtsp://user@cam/live"), "rtsp://cam/live");
  EXPECT_EQ(redact_url("http://cam/video.mjpg?user=admin&password=x&resolution=640"),
            "http://cam/video.mjpg?user=***&password=***&resolution=640");
  EXPECT_EQ(redact_url("/data/clips/a@b.mp4"), "/data/clips/a@b.mp4") << "a file path is not a URL";
  EXPECT_EQ(redact_url("udp://127.0.0.1:5000"), "udp://127.0.0.1:5000");
  EXPECT_EQ(redact_text("Connection to tcp://u:p@host:554?timeout=0 failed, see rtsp://a:b@c/d"),
            "Connection to tcp://host:554?timeout=0 failed, see rtsp://c/d");
}

TEST(UrlRedaction, BaseNamesAndNetworkUrls) {
  EXPECT_EQ(url_basename("/data/clip.mp4"), "clip.mp4");
  EXPECT_EQ(url_basename("rtsp://u:p@cam:554/live/ch1?x=1"), "ch1");
  EXPECT_EQ(url_basename("udp://127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(url_basename("-"), "stdin");
  EXPECT_TRUE(is_network_url("rtsp://cam/live"));
  EXPECT_TRUE(is_network_url("udp://127.0.0.1:5000"));
  EXPECT_FALSE(is_network_url("file:///data/a.mp4"));
  EXPECT_FALSE(is_network_url("/data/a.mp4"));
  EXPECT_FALSE(is_network_url("pipe:0"));
}

TEST(FrameName, KeepsTheIndexAndFitsTheWireName) {
  EXPECT_EQ(video_frame_name("clip.mp4", 12), "clip.mp4#000012");
  const auto name = video_frame_name("a-very-long-camera-name-that-goes-on.mp4", 1234567);
  EXPECT_EQ(name.size(), 28u);
  EXPECT_TRUE(name.ends_with("#1234567"));
  // A cut never leaves half of a UTF-8 character.
  const auto utf8 = video_frame_name("caméra-caméra-caméra-caméra", 1);
  EXPECT_LE(utf8.size(), 28u);
  EXPECT_EQ(utf8, "caméra-caméra-cam#000001");
}

TEST(VideoOptions, FilesAreBackPressuredAndNetworkInputsAreLive) {
  auto file = parse_video_options("/data/clip.mp4", {}, "test");
  ASSERT_TRUE(file) << file.status().to_string();
  EXPECT_FALSE(file->live);
  EXPECT_FALSE(file->network);
  EXPECT_EQ(file->drop, DropPolicy::kNone);
  auto camera = parse_video_options("rtsp://u:p@cam/live", {{"rtsp_transport", "tcp"}, {"fps", "5"}}, "test");
  ASSERT_TRUE(camera) << camera.status().to_string();
  EXPECT_TRUE(camera->live);
  EXPECT_EQ(camera->drop, DropPolicy::kOldest);
  EXPECT_EQ(camera->fps, 5);
  EXPECT_EQ(camera->url, "rtsp://u:p@cam/live");
  EXPECT_EQ(camera->display_url, "rtsp://cam/live");
  ASSERT_EQ(camera->ffmpeg_options.size(), 1u) << "FFmpeg's own keys pass through";
  EXPECT_EQ(camera->ffmpeg_options[0].first, "rtsp_transport");
  auto realtime =
      parse_video_options("clip.mp4", {{"realtime", "1"}, {"drop", "newest"}, {"threads", "2"}}, "t");
  ASSERT_TRUE(realtime) << realtime.status().to_string();
  EXPECT_TRUE(realtime->live) << "a file read in real time is shed like a camera";
  EXPECT_EQ(realtime->drop, DropPolicy::kNewest);
  EXPECT_EQ(realtime->ffmpeg_options.size(), 1u) << "threads is a decoder option";
}

TEST(VideoOptions, TheCameraUrlsOwnQuestionMarkIsWrittenPercent3F) {
  auto spec = source::parse_source_spec("video:rtsp://cam/live%3Fchannel=1&subtype=0?fps=2");
  ASSERT_TRUE(spec);
  auto o = parse_video_options(spec->target, spec->params, "t");
  ASSERT_TRUE(o) << o.status().to_string();
  EXPECT_EQ(o->url, "rtsp://cam/live?channel=1&subtype=0");
  EXPECT_EQ(o->fps, 2);
}

TEST(VideoOptions, RefusesUnknownKeysAndBadValuesNamingThem) {
  struct Case {
    Params params;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {{{"fsp", "5"}}, "unknown key 'fsp'"},
      {{{"fps", "0"}}, "fps=0 is not a positive number"},
      {{{"every", "0"}}, "every=0 is not at least 1"},
      {{{"drop", "sometimes"}}, "drop=sometimes is not oldest, newest or none"},
      {{{"queue", "0"}}, "queue=0"},
      {{{"keyframes", "maybe"}}, "keyframes=maybe is not a flag"},
      {{{"reconnect_backoff", "fast"}}, "reconnect_backoff=fast is not a positive duration"},
      {{{"fps", "5"}, {"every", "2"}}, "give fps=N or every=N, not both"},
      {{{"format", "no-such-format"}}, "format=no-such-format"},
  };
  for (const auto& c : cases) {
    auto o = parse_video_options("clip.mp4", c.params, "--source 'video:clip.mp4'");
    ASSERT_FALSE(o) << c.expected;
    EXPECT_NE(o.status().message().find(c.expected), std::string::npos) << o.status().message();
    EXPECT_EQ(o.status().message().rfind("--source 'video:clip.mp4'", 0), 0u) << o.status().message();
  }
  auto loop = parse_video_options("rtsp://cam/live", {{"loop", "1"}}, "t");
  ASSERT_FALSE(loop);
  EXPECT_NE(loop.status().message().find("loop=1 is for files"), std::string::npos);
}

TEST(VideoOptions, SourceFactoryBuildsVideoSourcesOnlyForConsumersOfRawPixels) {
  auto spec = source::parse_source_spec("video:rtsp://viewer:s3cret@cam/live?fps=5");
  ASSERT_TRUE(spec);
  auto refused = source::make_source(*spec, {});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("need `sluice serve`"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("s3cret"), std::string::npos);
  source::SourceDefaults defaults;
  defaults.video_channels = 3;
  auto made = source::make_source(*spec, defaults);
  ASSERT_TRUE(made) << made.status().to_string();
  EXPECT_EQ((*made)->name(), "video rtsp://cam/live?fps=5");
  auto bad = source::parse_source_spec("video:rtsp://viewer:s3cret@cam/live?nonsense=1");
  auto bad_made = source::make_source(*bad, defaults);
  ASSERT_FALSE(bad_made);
  EXPECT_NE(bad_made.status().message().find("unknown key 'nonsense'"), std::string::npos);
  EXPECT_EQ(bad_made.status().message().find("s3cret"), std::string::npos) << bad_made.status().message();
}

TEST(VideoSendInputs, RecognisesVideosAndRefusesServeOnlyKeys) {
  EXPECT_TRUE(is_video_input("clip.mp4"));
  EXPECT_TRUE(is_video_input("clip.MKV?fps=5"));
  EXPECT_TRUE(is_video_input("-"));
  EXPECT_TRUE(is_video_input("rtsp://cam/live"));
  EXPECT_FALSE(is_video_input("dog.jpg"));
  EXPECT_FALSE(is_video_input("images/"));
  EXPECT_FALSE(is_video_input("t10k-images-idx3-ubyte.gz"));
  auto input = parse_video_input("clip.mp4?fps=5");
  ASSERT_TRUE(input) << input.status().to_string();
  EXPECT_EQ(input->options.fps, 5);
  auto refused = parse_video_input("clip.mp4?drop=oldest");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("'drop' is a key of serve's video source"), std::string::npos);
}

TEST(FrameSampler, FpsKeepsTheFirstPictureOfEachSlotOfStreamTime) {
  FrameSampler five(5, 1);
  std::vector<std::uint64_t> kept;
  for (std::uint64_t i = 0; i < 125; ++i) {  // 25 pictures/s for 5 s
    if (five.keep(static_cast<std::int64_t>(i) * 40000, i)) kept.push_back(i);
  }
  ASSERT_EQ(kept.size(), 25u);
  for (std::size_t k = 0; k < kept.size(); ++k) EXPECT_EQ(kept[k], 5 * k);
  // 30 pictures/s (33333 us apart) at fps=7: one per 1/7 s slot.
  FrameSampler seven(7, 1);
  int n = 0;
  for (std::int64_t i = 0; i < 300; ++i) n += seven.keep(i * 1000000 / 30, static_cast<std::uint64_t>(i));
  EXPECT_EQ(n, 70);
  // A stream slower than fps keeps everything.
  FrameSampler fast(100, 1);
  for (std::uint64_t i = 0; i < 10; ++i) EXPECT_TRUE(fast.keep(static_cast<std::int64_t>(i) * 40000, i));
  FrameSampler every(0, 3);
  EXPECT_TRUE(every.keep(0, 0));
  EXPECT_FALSE(every.keep(1, 1));
  EXPECT_FALSE(every.keep(2, 2));
  EXPECT_TRUE(every.keep(3, 3));
}

Frame sized(std::size_t bytes, std::uint64_t tag) {
  Frame f;
  f.seq = tag;
  f.payload = Payload(std::vector<std::uint8_t>(bytes, 1));
  return f;
}

TEST(DropQueue, OldestMakesRoomNewestRefusesTheNewAndCountsBytes) {
  std::atomic<std::uint64_t> gauge{0};
  DropQueue oldest(2, DropPolicy::kOldest);
  oldest.set_gauge(&gauge);
  EXPECT_EQ(oldest.push(sized(10, 1)).dropped, 0u);
  EXPECT_EQ(oldest.push(sized(10, 2)).dropped, 0u);
  const auto r = oldest.push(sized(30, 3));
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.dropped, 1u);
  EXPECT_EQ(oldest.bytes(), 40u);
  EXPECT_EQ(gauge.load(), 40u);
  EXPECT_EQ(oldest.pop()->seq, 2u);
  EXPECT_EQ(oldest.pop()->seq, 3u);
  EXPECT_EQ(gauge.load(), 0u);

  DropQueue newest(1, DropPolicy::kNewest);
  EXPECT_EQ(newest.push(sized(5, 1)).dropped, 0u);
  EXPECT_EQ(newest.push(sized(5, 2)).dropped, 1u);
  EXPECT_EQ(newest.pop()->seq, 1u);
  newest.finish();
  EXPECT_FALSE(newest.pop());
}

TEST(DropQueue, NoneWaitsForRoomAndCloseWakesEveryone) {
  DropQueue q(1, DropPolicy::kNone);
  ASSERT_TRUE(q.push(sized(1, 1)).accepted);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.push(sized(1, 2));
    pushed = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed) << "a full queue with drop=none makes the producer wait";
  EXPECT_EQ(q.pop()->seq, 1u);
  producer.join();
  EXPECT_TRUE(pushed);
  std::thread consumer([&] {
    while (q.pop()) {
    }
  });
  q.close();
  consumer.join();
  EXPECT_FALSE(q.push(sized(1, 3)).accepted);
}

TEST(JpegEncoder, EncodesPicturesTheDecoderReadsBack) {
  std::vector<std::uint8_t> rgb(64 * 48 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(i % 3 == 0 ? 200 : 40);
  JpegEncoder encoder(95);
  std::vector<std::uint8_t> jpeg;
  ASSERT_TRUE(encoder.encode(rgb, 64, 48, 3, jpeg));
  EXPECT_TRUE(is_complete_jpeg(jpeg));
  vision::ImageDecoder decoder;
  vision::DecodedImage image;
  ASSERT_TRUE(decoder.decode(jpeg, 3, image));
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 48);
  EXPECT_NEAR(image.pixels[0], 200, 6);
  EXPECT_NEAR(image.pixels[1], 40, 6);
  // A JPEG without Huffman tables (Motion-JPEG from some cameras) is not complete.
  const std::vector<std::uint8_t> no_dht{0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xDA, 0x00, 0x02};
  EXPECT_FALSE(is_complete_jpeg(no_dht));
  EXPECT_FALSE(encoder.encode(rgb, 64, 47, 3, jpeg));
}

TEST(PixelConverter, Yuv420LimitedRangeToRgbAndGray) {
  AvFramePtr frame(av_frame_alloc());
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = 8;
  frame->height = 4;
  ASSERT_EQ(av_frame_get_buffer(frame.get(), 0), 0);
  // BT.601 limited range: Y=81, U=90, V=240 is pure red (255, 0, 0).
  for (int y = 0; y < 4; ++y) std::fill_n(frame->data[0] + y * frame->linesize[0], 8, 81);
  for (int y = 0; y < 2; ++y) {
    std::fill_n(frame->data[1] + y * frame->linesize[1], 4, 90);
    std::fill_n(frame->data[2] + y * frame->linesize[2], 4, 240);
  }
  PixelConverter rgb(PixelFormat::kRgb24);
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(rgb.convert(*frame, out));
  ASSERT_EQ(out.size(), 8u * 4 * 3);
  // swscale's fast path rounds to within a few levels.
  for (std::size_t i = 0; i < out.size(); i += 3) {
    EXPECT_NEAR(out[i], 255, 4);
    EXPECT_NEAR(out[i + 1], 0, 4);
    EXPECT_NEAR(out[i + 2], 0, 4);
  }
  PixelConverter gray(PixelFormat::kGray8);
  ASSERT_TRUE(gray.convert(*frame, out));
  ASSERT_EQ(out.size(), 8u * 4);
  EXPECT_NEAR(out[0], 76, 4);  // full-range luma of pure red
}

TEST(Prescale, SmallestEighthThatStaysTwiceTheTarget) {
  // ImageNet's shorter side 256: 1920x1080 needs 910x512, so 1/2 (960x540).
  EXPECT_EQ(prescaled_size(1920, 1080, {455, 256}), (std::pair{960, 540}));
  // 4K: 3840x2160 at 2/8 is 960x540.
  EXPECT_EQ(prescaled_size(3840, 2160, {455, 256}), (std::pair{960, 540}));
  // 640x480 is less than four times the target: the full size.
  EXPECT_EQ(prescaled_size(640, 480, {341, 256}), (std::pair{640, 480}));
  // Rounded up, as libjpeg-turbo's scaled sizes are.
  EXPECT_EQ(prescaled_size(1001, 1001, {100, 100}), (std::pair{251, 251}));
}

TEST(PixelConverter, PrescalesByAveragingAreas) {
  AvFramePtr frame(av_frame_alloc());
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = 16;
  frame->height = 8;
  ASSERT_EQ(av_frame_get_buffer(frame.get(), 0), 0);
  // Columns alternate black and white (full luma range, grey chroma): half size averages them.
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) frame->data[0][y * frame->linesize[0] + x] = x % 2 ? 235 : 16;
  }
  for (int p = 1; p <= 2; ++p) {
    for (int y = 0; y < 4; ++y) std::fill_n(frame->data[p] + y * frame->linesize[p], 8, 128);
  }
  PixelConverter gray(PixelFormat::kGray8);
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(gray.convert(*frame, 8, 4, out));
  ASSERT_EQ(out.size(), 8u * 4);
  for (const auto v : out) EXPECT_NEAR(v, 128, 6);
}

TEST(RawFramesInTheCore, WalMediaRecordsRoundTripAndPlainFramesKeepTheOldFormat) {
  std::vector<std::uint8_t> bytes;
  store::append_frame_record(raw_frame(4, 2, 7), 9, bytes);
  std::size_t used = 0;
  auto rec = store::decode_wal_record(bytes, used);
  ASSERT_TRUE(rec) << rec.status().to_string();
  EXPECT_EQ(used, bytes.size());
  EXPECT_EQ(bytes[8], static_cast<std::uint8_t>(store::WalRecordType::kMediaFrame));
  const auto& f = std::get<store::WalFrame>(*rec);
  EXPECT_EQ(f.lsn, 9u);
  EXPECT_EQ(f.pixels, (PixelLayout{PixelFormat::kRgb24, 4, 2}));
  EXPECT_EQ(f.pts_ms, 80);
  EXPECT_EQ(f.origin, "rtsp://cam.local/live");
  EXPECT_EQ(f.payload.size(), 24u);

  Frame plain;
  plain.stream = 1;
  plain.seq = 2;
  plain.name = "a.jpg";
  plain.payload = Payload(std::vector<std::uint8_t>{1, 2, 3});
  std::vector<std::uint8_t> old;
  store::append_frame_record(plain, 5, old);
  EXPECT_EQ(old[8], static_cast<std::uint8_t>(store::WalRecordType::kFrame)) << "encoded frames: unchanged";
  EXPECT_EQ(old.size(), 8u + 1 + 24 + 1 + 5 + 4 + 3);

  // A media record whose pixel layout disagrees with its payload is corrupt, as is every truncation.
  Frame lying = raw_frame(4, 2, 7);
  lying.pixels.width = 5;
  std::vector<std::uint8_t> bad;
  store::append_frame_record(lying, 1, bad);
  EXPECT_FALSE(store::decode_wal_record(bad, used));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(store::decode_wal_record(std::span<const std::uint8_t>(bytes.data(), n), used)) << n;
  }
}

TEST(RawFramesInTheCore, WalReplaysRawFramesWithTheirLayout) {
  const auto dir = test::make_temp_dir("wal-video");
  {
    auto wal = store::WriteAheadLog::open({dir});
    ASSERT_TRUE(wal) << wal.status().to_string();
    std::vector<Frame> frames;
    frames.push_back(raw_frame(4, 2, 9));
    ASSERT_TRUE((*wal)->append(frames));
  }
  auto wal = store::WriteAheadLog::open({dir});
  ASSERT_TRUE(wal);
  std::vector<Frame> replayed;
  ASSERT_TRUE((*wal)->replay([&](Frame f) {
    replayed.push_back(std::move(f));
    return Status::ok();
  }));
  ASSERT_EQ(replayed.size(), 1u);
  EXPECT_EQ(replayed[0].pixels, (PixelLayout{PixelFormat::kRgb24, 4, 2}));
  EXPECT_EQ(replayed[0].pts_ms, 80);
  ASSERT_TRUE(replayed[0].origin);
  EXPECT_EQ(*replayed[0].origin, "rtsp://cam.local/live");
  EXPECT_EQ(replayed[0].payload.size(), 24u);
  EXPECT_EQ(replayed[0].payload.data()[0], 9);
}

TEST(RawFramesInTheCore, SpillFilesKeepRawPixelsAndTheirLayout) {
  const auto dir = test::make_temp_dir("spill-video");
  std::vector<Frame> frames;
  frames.push_back(raw_frame(640, 480, 3));
  frames.push_back(raw_frame(2, 2, 200));
  auto spill = store::SpillFile::write(dir, 1, frames);
  ASSERT_TRUE(spill) << spill.status().to_string();
  EXPECT_TRUE(frames[0].payload.empty()) << "the pixels left memory";
  EXPECT_EQ(frames[0].pixels, (PixelLayout{PixelFormat::kRgb24, 640, 480}))
      << "the layout stays with the frame";
  auto back = (*spill)->read(0);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), frames[0].pixels.bytes());
  EXPECT_EQ(back->data()[back->size() - 1], 3);
  auto small = (*spill)->read(1);
  ASSERT_TRUE(small);
  EXPECT_EQ(small->size(), 12u);
  EXPECT_EQ(small->data()[0], 200);
}

TEST(RawFramesInTheCore, ResultLinesAddPtsAndUrlForVideoFramesOnly) {
  sink::ResultRecord r;
  r.stream = 1;
  r.seq = 0;
  r.name = "dog.jpg";
  r.batch = 1;
  r.latency_ms = 1.5;
  r.top.push_back({249, "malamute", 0.75f});
  std::string line;
  sink::append_json_line(r, line);
  EXPECT_EQ(
      line,
      R"({"stream":1,"seq":0,"name":"dog.jpg","batch":1,"latency_ms":1.500,"top":[{"index":249,"label":"malamute","score":0.75}]})"
      "\n")
      << "lines of encoded frames are byte-identical to before";
  r.name = "cam#000025";
  r.pts_ms = 1000;
  r.url = std::make_shared<const std::string>("rtsp://cam/live");
  line.clear();
  sink::append_json_line(r, line);
  EXPECT_EQ(
      line,
      R"({"stream":1,"seq":0,"name":"cam#000025","pts_ms":1000,"url":"rtsp://cam/live","batch":1,"latency_ms":1.500,"top":[{"index":249,"label":"malamute","score":0.75}]})"
      "\n");
}

}  // namespace
}  // namespace sluice::video
