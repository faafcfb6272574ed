#include "video/video_sender.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "source/source_spec.h"
#include "video/frame_name.h"
#include "video/frame_sampler.h"
#include "video/jpeg_encoder.h"
#include "video/pixel_converter.h"
#include "video/realtime_pacer.h"
#include "video/url_redaction.h"
#include "video/video_reader.h"
#include "wire/frame_codec.h"

namespace sluice::video {
namespace {
using SteadyClock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 16> kVideoExtensions = {"mp4",   "m4v",  "mkv",  "webm", "avi",  "mov",
                                                               "ts",    "m2ts", "mts",  "mpg",  "mpeg", "flv",
                                                               "mjpeg", "mjpg", "h264", "y4m"};
constexpr std::array<std::string_view, 7> kServeOnlyKeys = {
    "loop", "live", "drop", "queue", "reconnect_backoff", "reconnect_max_backoff", "max_reconnects"};

// Sends one input on `fd`: its sampled pictures, then the end-of-stream record.
Status send_one(const VideoInput& input, int fd, const VideoSendOptions& options,
                producer::SendProgress& progress) {
  const auto& v = input.options;
  auto reader = VideoReader::open(reader_options(v, options.max_pixels, &progress.cancel));
  if (!reader) return reader.status();
  // Motion-JPEG pictures are JPEG files already: passed on without decoding (unless one lacks its
  // Huffman tables, which is then decoded and encoded again).
  const bool passthrough = (*reader)->codec_id() == AV_CODEC_ID_MJPEG;
  FrameSampler sampler(v.fps, v.every);
  RealtimePacer pacer;
  PixelConverter converter(PixelFormat::kRgb24);
  JpegEncoder encoder(options.jpeg_quality);
  const std::string base = url_basename(v.display_url);
  std::vector<std::uint8_t> rgb, jpeg, record;
  const auto start = SteadyClock::now();
  std::uint64_t sent = 0;
  while (!progress.cancel && (options.limit == 0 || sent < options.limit)) {
    std::span<const std::uint8_t> payload;
    std::int64_t pts_us = 0;
    std::uint64_t index = 0;
    const AVFrame* picture = nullptr;
    if (passthrough) {
      auto packet = (*reader)->next_packet();
      if (!packet) {
        if (packet.status().code() == Code::kClosed) break;
        return packet.status();
      }
      pts_us = packet->pts_us;
      index = packet->index;
      if (!sampler.keep(pts_us, index)) continue;
      if (is_complete_jpeg(packet->data)) {
        payload = packet->data;
      } else {
        auto decoded = (*reader)->decode_last_packet();
        if (!decoded) return decoded.status();
        picture = decoded->frame;
      }
    } else {
      auto decoded = (*reader)->next_picture();
      if (!decoded) {
        if (decoded.status().code() == Code::kClosed) break;
        return decoded.status();
      }
      pts_us = decoded->pts_us;
      index = decoded->index;
      if (!sampler.keep(pts_us, index)) continue;
      picture = decoded->frame;
    }
    if (picture != nullptr) {
      if (auto st = converter.convert(*picture, rgb); !st) return st;
      if (auto st = encoder.encode(rgb, picture->width, picture->height, 3, jpeg); !st) return st;
      payload = jpeg;
    }
    if (v.realtime) std::this_thread::sleep_until(pacer.due(pts_us));
    if (options.rate > 0) {
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<SteadyClock::duration>(
                      std::chrono::duration<double>(static_cast<double>(sent) / options.rate)));
    }
    record.clear();
    if (auto st = wire::append_record(video_frame_name(base, index), payload, record); !st) return st;
    if (auto st = net::write_all(fd, record); !st) return st;
    ++sent;
    progress.frames.fetch_add(1, std::memory_order_relaxed);
    progress.bytes.fetch_add(payload.size(), std::memory_order_relaxed);
  }
  if (progress.cancel) return Status(Code::kClosed, "cancelled");
  const auto eos = wire::end_of_stream_record();
  if (auto st = net::write_all(fd, eos); !st) return st;
  // Wait for the receiver to close its side, so every byte is read before we report success.
  ::shutdown(fd, SHUT_WR);
  pollfd pfd{fd, POLLIN, 0};
  char drain[256];
  while (::poll(&pfd, 1, 30000) > 0 && ::recv(fd, drain, sizeof drain, 0) > 0) {
  }
  return Status::ok();
}

}  // namespace

bool is_video_input(std::string_view path) {
  if (path == "-" || is_network_url(path)) return true;
  std::string_view file = path.substr(0, path.find('?'));
  const auto dot = file.rfind('.');
  if (dot == std::string_view::npos || file.find('/', dot) != std::string_view::npos) return false;
  std::string ext(file.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(kVideoExtensions.begin(), kVideoExtensions.end(), ext) != kVideoExtensions.end();
}

Result<VideoInput> parse_video_input(std::string_view path) {
  VideoInput input;
  input.written = redact_url(path);
  const std::string context = fmt::format("sluice send '{}'", input.written);
  auto spec = source::parse_source_spec("video:" + std::string(path));
  if (!spec) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}: expected PATH or URL, then ?key=value&... (a '?' of the URL itself is "
                              "written %3F)",
                              context));
  }
  for (const auto& [key, value] : spec->params) {
    if (std::find(kServeOnlyKeys.begin(), kServeOnlyKeys.end(), key) != kServeOnlyKeys.end()) {
      return Status(
          Code::kInvalidArgument,
          fmt::format("{}: '{}' is a key of serve's video source; send takes fps, every, keyframes, "
                      "realtime, format, stall_timeout and FFmpeg's options",
                      context, key));
    }
  }
  auto options = parse_video_options(spec->target, spec->params, context);
  if (!options) return options.status();
  input.options = std::move(*options);
  return input;
}

Result<producer::SendSummary> send_videos(const std::vector<VideoInput>& inputs, const net::Endpoint& to,
                                          const VideoSendOptions& options, producer::SendProgress& progress) {
  const auto start = SteadyClock::now();
  std::vector<net::Fd> fds;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto fd = net::connect_tcp(to, std::chrono::milliseconds(5000));
    if (!fd) return fd.status();
    fds.push_back(std::move(*fd));
  }
  std::mutex mu;
  Status first_error;
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      threads.emplace_back([&, i] {
        Status st = send_one(inputs[i], fds[i].get(), options, progress);
        if (!st) {
          progress.cancel = true;
          std::lock_guard lock(mu);
          if (first_error.is_ok() || first_error.code() == Code::kClosed) first_error = st;
        }
      });
    }
  }
  if (!first_error) return first_error;
  producer::SendSummary summary;
  summary.frames = progress.frames;
  summary.bytes = progress.bytes;
  summary.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return summary;
}

}  // namespace sluice::video
