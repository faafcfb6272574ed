#include "video/video_reader.h"

#include <fmt/format.h>

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "video/ffmpeg_log.h"
#include "video/protocol_whitelist.h"
#include "video/url_redaction.h"

namespace sluice::video {
namespace {

constexpr AVRational kMicros{1, 1000000};
// A forward jump in presentation time larger than this is a discontinuity (a camera restarted
// its clock), not a gap in the pictures.
constexpr std::int64_t kMaxForwardJumpUs = 60'000'000;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status pixel_limit(const std::string& url, std::int64_t width, std::int64_t height, std::uint64_t max) {
  const auto pixels = static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
  if (pixels <= max) return Status::ok();
  return Status(Code::kLimit, fmt::format("{}: video is {}x{} = {} pixels, above the limit of {} (rule: "
                                          "--max-pixels)",
                                          url, width, height, pixels, max));
}

std::string option_names(const AVDictionary* dict) {
  std::string names;
  const AVDictionaryEntry* e = nullptr;
  while ((e = av_dict_get(dict, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
    if (!names.empty()) names += ", ";
    names += fmt::format("'{}'", e->key);
  }
  return names;
}

}  // namespace

VideoReader::~VideoReader() = default;

int VideoReader::interrupt(void* opaque) {
  const auto* self = static_cast<const VideoReader*>(opaque);
  if (self->options_.cancel != nullptr && self->options_.cancel->load()) return 1;
  const auto deadline = self->deadline_ns_.load(std::memory_order_relaxed);
  return deadline != 0 && steady_ns() > deadline ? 1 : 0;
}

void VideoReader::arm_deadline() {
  const auto timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_timeout).count();
  deadline_ns_.store(timeout > 0 ? steady_ns() + timeout : 0, std::memory_order_relaxed);
}

Status VideoReader::read_error(int code, const char* what) const {
  if (options_.cancel != nullptr && options_.cancel->load()) return Status(Code::kClosed, "stopping");
  if (code == AVERROR_EXIT) {
    return Status(Code::kIo, fmt::format("{}: {} made no progress for {} ms (stall_timeout)",
                                         options_.display_url, what, options_.stall_timeout.count()));
  }
  return Status(Code::kIo, fmt::format("{}: {}: {}", options_.display_url, what, av_error_text(code)));
}

ReaderOptions reader_options(const VideoOptions& video, std::uint64_t max_pixels,
                             const std::atomic<bool>* cancel) {
  ReaderOptions r;
  r.url = video.url;
  r.display_url = video.display_url;
  r.format = video.format;
  r.ffmpeg_options = video.ffmpeg_options;
  r.max_pixels = max_pixels;
  r.keyframes_only = video.keyframes;
  r.stall_timeout = video.stall_timeout;
  r.cancel = cancel;
  return r;
}

Result<std::unique_ptr<VideoReader>> VideoReader::open(const ReaderOptions& options) {
  route_ffmpeg_log();
  auto reader = std::make_unique<VideoReader>();
  reader->options_ = options;
  auto& r = *reader;
  const std::string& url = options.display_url;

  const auto protocols = protocol_whitelist(options.url);
  if (!protocols)
    return Status(protocols.status().code(), fmt::format("{}: {}", url, protocols.status().message()));
  AVDictionary* raw_dict = nullptr;
  for (const auto& [key, value] : options.ffmpeg_options)
    av_dict_set(&raw_dict, key.c_str(), value.c_str(), 0);
  // Set last: an option in the URL does not widen it. Nested opens (HLS segments, RTP) inherit it.
  av_dict_set(&raw_dict, "protocol_whitelist", protocols->c_str(), 0);
  DictPtr dict(raw_dict);

  const AVInputFormat* forced = nullptr;
  if (!options.format.empty()) {
    forced = av_find_input_format(options.format.c_str());
    if (forced == nullptr) {
      return Status(Code::kInvalidArgument,
                    fmt::format("{}: FFmpeg has no input format '{}'", url, options.format));
    }
  }
  AVFormatContext* ctx = avformat_alloc_context();
  if (ctx == nullptr) return Status(Code::kInternal, "avformat_alloc_context failed");
  ctx->interrupt_callback = {&VideoReader::interrupt, &r};
  r.arm_deadline();
  raw_dict = dict.release();
  // On failure avformat_open_input frees the context itself.
  int rc = avformat_open_input(&ctx, options.url.c_str(), forced, &raw_dict);
  dict.reset(raw_dict);
  if (rc < 0) {
    // A network input that sends garbage may be a camera restarting: worth retrying (kIo).
    if (rc == AVERROR_INVALIDDATA && !is_network_url(options.url)) {
      return Status(Code::kDecode,
                    fmt::format("{}: not a video FFmpeg can read: {} (rule: the input must be a "
                                "container or stream FFmpeg demuxes)",
                                url, av_error_text(rc)));
    }
    return r.read_error(rc, "opening the input");
  }
  r.input_.reset(ctx);

  // Dimensions the container declares are checked before FFmpeg probes (and so decodes) anything.
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    const auto* par = ctx->streams[i]->codecpar;
    if (par->codec_type != AVMEDIA_TYPE_VIDEO) continue;
    if (auto st = pixel_limit(url, par->width, par->height, options.max_pixels); !st) return st;
  }
  // The probe's own decoders are held to the same limit.
  std::vector<AVDictionary*> probe_options(ctx->nb_streams, nullptr);
  for (auto*& d : probe_options)
    av_dict_set_int(&d, "max_pixels", static_cast<std::int64_t>(options.max_pixels), 0);
  r.arm_deadline();
  rc = avformat_find_stream_info(ctx, probe_options.empty() ? nullptr : probe_options.data());
  for (auto*& d : probe_options) av_dict_free(&d);
  if (rc < 0) return r.read_error(rc, "reading the stream parameters");

  const AVCodec* decoder = nullptr;
  r.stream_ = av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, options.decode ? &decoder : nullptr, 0);
  if (r.stream_ == AVERROR_STREAM_NOT_FOUND || r.stream_ < 0) {
    if (r.stream_ == AVERROR_DECODER_NOT_FOUND) {
      const auto* par =
          ctx->streams[av_find_best_stream(ctx, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0)]->codecpar;
      return Status(Code::kDecode,
                    fmt::format("{}: this FFmpeg has no decoder for the video codec '{}' (rule: "
                                "the codec must be one FFmpeg decodes)",
                                url, avcodec_get_name(par->codec_id)));
    }
    return Status(Code::kDecode,
                  fmt::format("{}: holds no video stream ({} stream(s) of other kinds) (rule: the input must "
                              "contain a video stream)",
                              url, ctx->nb_streams));
  }
  AVStream* stream = ctx->streams[r.stream_];
  for (unsigned i = 0; i < ctx->nb_streams; ++i) {
    if (static_cast<int>(i) != r.stream_) ctx->streams[i]->discard = AVDISCARD_ALL;
  }
  const auto* par = stream->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    return Status(Code::kDecode,
                  fmt::format("{}: the video stream declares {}x{} pixels (rule: both sides must "
                              "be > 0)",
                              url, par->width, par->height));
  }
  if (auto st = pixel_limit(url, par->width, par->height, options.max_pixels); !st) return st;

  if (options.decode) {
    if (decoder == nullptr) {
      return Status(Code::kDecode,
                    fmt::format("{}: this FFmpeg has no decoder for the video codec '{}' (rule: "
                                "the codec must be one FFmpeg decodes)",
                                url, avcodec_get_name(par->codec_id)));
    }
    r.codec_.reset(avcodec_alloc_context3(decoder));
    if (!r.codec_) return Status(Code::kInternal, "avcodec_alloc_context3 failed");
    if (avcodec_parameters_to_context(r.codec_.get(), par) < 0) {
      return Status(Code::kDecode, fmt::format("{}: the decoder refused the stream parameters", url));
    }
    r.codec_->pkt_timebase = stream->time_base;
    r.codec_->max_pixels = static_cast<std::int64_t>(options.max_pixels);
    // One decode thread unless the input says threads=N: threads are a budget shared with the
    // executors.
    r.codec_->thread_count = 1;
    if (options.keyframes_only) r.codec_->skip_frame = AVDISCARD_NONKEY;
    raw_dict = dict.release();
    rc = avcodec_open2(r.codec_.get(), decoder, &raw_dict);
    dict.reset(raw_dict);
    if (rc < 0) {
      return Status(Code::kDecode,
                    fmt::format("{}: cannot open the {} decoder: {}", url, decoder->name, av_error_text(rc)));
    }
    r.frame_.reset(av_frame_alloc());
    if (!r.frame_) return Status(Code::kInternal, "av_frame_alloc failed");
  }
  if (av_dict_count(dict.get()) > 0) {
    return Status(Code::kInvalidArgument,
                  fmt::format("{}: FFmpeg did not use the option(s) {}: neither this input's protocol and "
                              "format{} take them",
                              url, option_names(dict.get()), options.decode ? " nor its decoder" : ""));
  }
  r.packet_.reset(av_packet_alloc());
  if (!r.packet_) return Status(Code::kInternal, "av_packet_alloc failed");
  if (stream->start_time != AV_NOPTS_VALUE) {
    r.have_origin_ = true;
    r.origin_ts_ = stream->start_time;
  }
  return reader;
}

int VideoReader::width() const {
  return input_->streams[stream_]->codecpar->width;
}

int VideoReader::height() const {
  return input_->streams[stream_]->codecpar->height;
}

AVCodecID VideoReader::codec_id() const {
  return input_->streams[stream_]->codecpar->codec_id;
}

std::int64_t VideoReader::frame_duration_us() const {
  const AVRational rate = input_->streams[stream_]->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) return 40000;
  return av_rescale_q(1, av_inv_q(rate), kMicros);
}

std::string VideoReader::describe() const {
  const auto* stream = input_->streams[stream_];
  const auto rate = stream->avg_frame_rate;
  return fmt::format("{} {}x{}{}", avcodec_get_name(stream->codecpar->codec_id), stream->codecpar->width,
                     stream->codecpar->height,
                     rate.num > 0 && rate.den > 0 ? fmt::format(" {:.4g} fps", av_q2d(rate)) : std::string());
}

std::int64_t VideoReader::timestamp_us(std::int64_t ts) {
  const auto* stream = input_->streams[stream_];
  std::int64_t us = 0;
  if (ts == AV_NOPTS_VALUE) {
    us = last_us_ < 0 ? 0 : last_us_ + frame_duration_us();
  } else {
    if (!have_origin_) {
      have_origin_ = true;
      origin_ts_ = ts;
    }
    us = av_rescale_q(ts - origin_ts_, stream->time_base, kMicros) + offset_us_;
  }
  if (last_us_ >= 0 && (us < last_us_ || us > last_us_ + kMaxForwardJumpUs)) {
    const std::int64_t rebased = last_us_ + frame_duration_us();
    offset_us_ += rebased - us;
    us = rebased;
  }
  last_us_ = us;
  return us;
}

Status VideoReader::read_packet() {
  while (true) {
    av_packet_unref(packet_.get());
    arm_deadline();
    const int rc = av_read_frame(input_.get(), packet_.get());
    if (rc == AVERROR_EOF) return Status(Code::kClosed, "end of input");
    if (rc < 0) return read_error(rc, "reading");
    if (packet_->stream_index != stream_) continue;
    if ((packet_->flags & AV_PKT_FLAG_CORRUPT) != 0) {
      ++corrupt_;
      continue;
    }
    return Status::ok();
  }
}

Result<Picture> VideoReader::next_picture() {
  if (!codec_) return Status(Code::kInternal, "the reader was opened without a decoder");
  while (true) {
    int rc = avcodec_receive_frame(codec_.get(), frame_.get());
    if (rc == 0) {
      if ((frame_->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame_->decode_error_flags != 0) {
        ++corrupt_;
        av_frame_unref(frame_.get());
        continue;
      }
      const std::int64_t pts_us = timestamp_us(frame_->best_effort_timestamp);
      const std::uint64_t index = pictures_++;
      if (auto st = pixel_limit(options_.display_url, frame_->width, frame_->height, options_.max_pixels);
          !st) {
        av_frame_unref(frame_.get());
        return st;
      }
      return Picture{frame_.get(), pts_us, index};
    }
    if (rc == AVERROR_EOF) return Status(Code::kClosed, "end of input");
    if (rc != AVERROR(EAGAIN)) {
      ++corrupt_;  // a picture the decoder could not produce; the next packets may decode
      continue;
    }
    if (draining_) return Status(Code::kClosed, "end of input");
    if (auto st = read_packet(); !st) {
      if (st.code() != Code::kClosed || (options_.cancel != nullptr && options_.cancel->load())) return st;
      // End of input: flush the pictures the decoder still holds (B-frame reordering).
      draining_ = true;
      avcodec_send_packet(codec_.get(), nullptr);
      continue;
    }
    rc = avcodec_send_packet(codec_.get(), packet_.get());
    if (rc < 0 && rc != AVERROR(EAGAIN)) ++corrupt_;
  }
}

Result<EncodedPicture> VideoReader::next_packet() {
  if (auto st = read_packet(); !st) return st;
  const std::int64_t ts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
  return EncodedPicture{
      {packet_->data, static_cast<std::size_t>(packet_->size)}, timestamp_us(ts), pictures_++};
}

Result<Picture> VideoReader::decode_last_packet() {
  if (!codec_) return Status(Code::kInternal, "the reader was opened without a decoder");
  const std::int64_t pts_us = last_us_ < 0 ? 0 : last_us_;
  const std::uint64_t index = pictures_ == 0 ? 0 : pictures_ - 1;
  int rc = avcodec_send_packet(codec_.get(), packet_.get());
  if (rc >= 0) rc = avcodec_receive_frame(codec_.get(), frame_.get());
  if (rc < 0) {
    ++corrupt_;
    return Status(Code::kDecode, fmt::format("{}: picture {} does not decode: {}", options_.display_url,
                                             index, av_error_text(rc)));
  }
  if (auto st = pixel_limit(options_.display_url, frame_->width, frame_->height, options_.max_pixels); !st) {
    av_frame_unref(frame_.get());
    return st;
  }
  return Picture{frame_.get(), pts_us, index};
}

}  // namespace sluice::video
