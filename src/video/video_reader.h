// VideoReader: one opened video input, demuxed and decoded by FFmpeg (RAII over the format
// context, the decoder, and their packet and frame).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sluice/status.h"
#include "video/av_handles.h"
#include "video/video_options.h"

namespace sluice::video {

struct ReaderOptions {
  std::string url;          // given to FFmpeg as it is; may hold credentials, never logged
  std::string display_url;  // the same without credentials, for messages
  std::string format;       // force this input format; empty = probe
  std::vector<std::pair<std::string, std::string>> ffmpeg_options;
  std::uint64_t max_pixels = 64ull << 20;
  bool keyframes_only = false;
  /// false: no decoder is opened, and only next_packet() may be used (pass encoded pictures on).
  bool decode = true;
  /// Opening, or waiting for the next packet, longer than this fails with kIo.
  std::chrono::milliseconds stall_timeout{10000};
  /// When it becomes true, blocking FFmpeg calls return and the reader fails with kClosed.
  const std::atomic<bool>* cancel = nullptr;
};

/// The options that read one parsed video input (its URL, format, FFmpeg options, key frames
/// only, stall timeout), with pictures over `max_pixels` refused and `cancel` as above.
ReaderOptions reader_options(const VideoOptions& video, std::uint64_t max_pixels,
                             const std::atomic<bool>* cancel);

/// A decoded picture; `frame` stays valid until the next call.
struct Picture {
  const AVFrame* frame = nullptr;
  std::int64_t pts_us = 0;  // presentation time from the start of the stream, never decreasing
  std::uint64_t index = 0;  // decoded pictures, from 0
};

/// An encoded picture of the video stream; `data` stays valid until the next call.
struct EncodedPicture {
  std::span<const std::uint8_t> data;
  std::int64_t pts_us = 0;
  std::uint64_t index = 0;
};

class VideoReader {
 public:
  /// Opens the input and its best video stream, and (with `decode`) its decoder. Fails with
  /// kIo when the input cannot be reached or read (worth retrying: a camera that is down), kDecode
  /// when it holds no video stream FFmpeg can decode, kLimit when the stream's pictures are over
  /// max_pixels (checked before any picture buffer exists), kInvalidArgument when an option was
  /// taken by no FFmpeg component, kClosed when cancelled.
  static Result<std::unique_ptr<VideoReader>> open(const ReaderOptions& options);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  /// The next picture. kClosed at the end of the input (or when cancelled), kIo when reading
  /// fails or stalls, kLimit for a picture over max_pixels (it is skipped: call again). Packets
  /// and pictures the decoder rejects are skipped and counted in corrupt().
  Result<Picture> next_picture();
  /// The next encoded picture (the reader must be opened without `decode`). Errors as above.
  Result<EncodedPicture> next_packet();

  /// Decodes the packet next_packet() returned last, for intra-only codecs (one picture per
  /// packet, such as Motion-JPEG). The reader must have been opened with `decode`.
  Result<Picture> decode_last_packet();

  /// Packets and pictures skipped as corrupt so far.
  std::uint64_t corrupt() const { return corrupt_; }
  int width() const;
  int height() const;
  /// "h264 640x480 25 fps" for logs.
  std::string describe() const;
  AVCodecID codec_id() const;
  /// The nominal time between pictures, in microseconds (40000 when the stream does not say).
  std::int64_t frame_duration_us() const;

  VideoReader() = default;  // use open()

 private:
  static int interrupt(void* opaque);
  void arm_deadline();
  Status read_error(int code, const char* what) const;
  /// The next packet of the video stream into packet_; kClosed at the end of the input.
  Status read_packet();
  /// Microseconds since the stream's start, made non-decreasing across discontinuities.
  std::int64_t timestamp_us(std::int64_t ts);

  ReaderOptions options_;
  InputPtr input_;
  CodecPtr codec_;
  PacketPtr packet_;
  AvFramePtr frame_;
  int stream_ = -1;
  std::atomic<std::int64_t> deadline_ns_{0};  // steady clock; read by FFmpeg's interrupt callback
  bool draining_ = false;
  std::uint64_t corrupt_ = 0;
  std::uint64_t pictures_ = 0;
  bool have_origin_ = false;
  std::int64_t origin_ts_ = 0;  // stream time base
  std::int64_t offset_us_ = 0;  // added after a discontinuity
  std::int64_t last_us_ = -1;
};

}  // namespace sluice::video
