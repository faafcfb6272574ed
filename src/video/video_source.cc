#include "video/video_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "source/backoff.h"
#include "video/frame_name.h"
#include "video/url_redaction.h"

namespace sluice::video {
namespace {
using observe::DropReason;
using observe::SourceState;

// An input that cannot work however often it is reopened.
bool is_permanent(const Status& why) {
  return why.code() == Code::kLimit || why.code() == Code::kInvalidArgument || why.code() == Code::kDecode ||
         why.code() == Code::kInternal;
}
}  // namespace

VideoSource::VideoSource(VideoSourceOptions options)
    : options_(std::move(options)),
      base_name_(url_basename(options_.video.display_url)),
      origin_(std::make_shared<const std::string>(options_.video.display_url)),
      converter_(options_.pixels),
      sampler_(options_.video.fps, options_.video.every) {}

VideoSource::~VideoSource() {
  stop();
}

Status VideoSource::start(source::FrameSink& sink) {
  if (decoder_.joinable() || storer_.joinable()) return Status(Code::kInternal, "already started");
  sink_ = &sink;
  stopping_ = false;
  decoder_done_ = false;
  storer_done_ = false;
  queue_ = std::make_unique<DropQueue>(options_.video.queue, options_.video.drop);
  queue_->set_gauge(&sink.stats().queued_bytes);
  const auto& v = options_.video;
  spdlog::info("{}: starting ({}; drop={}, queue {} frame(s){}{}{}{})", name(),
               v.live ? "live: shed when behind" : "file: back-pressured", drop_policy_name(v.drop), v.queue,
               v.fps > 0 ? fmt::format(", fps={}", v.fps) : std::string(),
               v.every > 1 ? fmt::format(", every={}", v.every) : std::string(),
               v.keyframes ? ", key frames only" : "", v.realtime ? ", realtime" : "");
  storer_ = std::thread([this] { store_loop(); });
  decoder_ = std::thread([this] { decode_loop(); });
  return Status::ok();
}

void VideoSource::stop() {
  if (!decoder_.joinable() && !storer_.joinable()) return;
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  queue_->close();
  if (decoder_.joinable()) decoder_.join();
  if (storer_.joinable()) storer_.join();
  if (const auto left = queue_->take_all().size(); left > 0) {
    sink_->stats().count_drop(DropReason::kStopped, left);
  }
}

bool VideoSource::sleep_unless_stopped(std::chrono::milliseconds delay) {
  MutexLock lock(mu_);
  return !wake_.wait_for(mu_, delay, [&] { return stopping_.load(); });
}

bool VideoSource::pace(std::int64_t pts_us) {
  const auto due = pacer_.due(pts_us);
  MutexLock lock(mu_);
  return !wake_.wait_until(mu_, due, [&] { return stopping_.load(); });
}

void VideoSource::store_loop() {
  auto& stats = sink_->stats();
  // seq is given here, to the frames actually stored, so that a stream's seq has no gaps where
  // frames were dropped.
  std::uint64_t stream = 0;
  std::uint64_t next_seq = 0;
  while (auto frame = queue_->pop()) {
    if (frame->stream != stream) {
      stream = frame->stream;
      next_seq = 0;
    }
    frame->seq = next_seq++;
    if (auto st = sink_->store(std::move(*frame)); !st) {
      // The pipeline is stopping: this frame and what is queued are not taken, and the decoding
      // thread ends too.
      stats.count_drop(DropReason::kStopped);
      {
        MutexLock lock(mu_);
        stopping_ = true;
      }
      wake_.notify_all();
      queue_->close();
      break;
    }
  }
  storer_done_ = true;
}

void VideoSource::decode_loop() {
  auto& stats = sink_->stats();
  const auto& v = options_.video;
  source::Backoff backoff(v.reconnect_backoff, v.reconnect_max_backoff);
  bool in_outage = false;
  while (!stopping_) {
    bool delivered = false;
    const Status why = run_session(delivered);
    if (stopping_) break;
    const bool ended = why.code() == Code::kClosed;
    if (!v.network && ended) {
      spdlog::info("{}: end of input: {} picture(s) decoded, {} sampled, {} dropped behind", name(), decoded_,
                   sampled_, stats.drops(DropReason::kBehind));
      stats.set_state(SourceState::kStopped);
      break;
    }
    if (!v.network || is_permanent(why)) {
      if (!delivered) ++stats.errors;  // otherwise the sink counted it when the stream closed
      stats.set_last_error(why.to_string());
      stats.set_state(SourceState::kFailed);
      spdlog::error("{}: failed: {}", name(), why.to_string());
      break;
    }
    if (!ended && !delivered) {
      ++stats.errors;  // a session that failed after delivering frames counted its error on close
      stats.set_last_error(why.to_string());
    }
    if (v.max_reconnects != 0 && stats.restarts.load() >= v.max_reconnects) {
      stats.set_state(SourceState::kFailed);
      spdlog::error("{}: gave up after {} reconnect(s) (max_reconnects); last: {}", name(),
                    stats.restarts.load(), why.to_string());
      break;
    }
    if (delivered) backoff.reset();
    stats.set_state(SourceState::kReconnecting);
    const auto delay = backoff.next();
    // One warning per outage, not one per attempt.
    if (!in_outage) {
      spdlog::warn("{}: {}; reconnecting with backoff from {} ms up to {} ms", name(),
                   ended ? std::string("the stream ended") : why.to_string(), delay.count(),
                   backoff.max().count());
    } else {
      spdlog::debug("{}: reconnect failed: {}; next attempt in {} ms", name(), why.to_string(),
                    delay.count());
    }
    in_outage = true;
    if (!sleep_unless_stopped(delay)) break;
    ++stats.restarts;
  }
  queue_->finish();
  decoder_done_ = true;
}

Status VideoSource::run_session(bool& delivered) {
  auto& stats = sink_->stats();
  const auto options = reader_options(options_.video, options_.max_pixels, &stopping_);
  auto reader = VideoReader::open(options);
  if (!reader) return reader.status();
  const bool reconnected = stats.state() == SourceState::kReconnecting;
  auto stream = sink_->open_stream(options_.video.display_url);
  if (!stream) return stream.status();
  stream_ = *stream;
  pts_offset_us_ = 0;
  index_offset_ = 0;
  pacer_.reset();
  sampler_.reset();
  stats.set_state(SourceState::kRunning);
  spdlog::info("{}: {} {} (stream {})", name(), reconnected ? "reconnected:" : "opened",
               (*reader)->describe(), stream_);
  const auto sampled_before = sampled_;
  Status why;
  while (true) {
    std::int64_t last_pts_us = -1;
    const auto pictures_before = decoded_;
    why = decode_input(**reader, last_pts_us);
    if (why.code() != Code::kClosed || stopping_ || !options_.video.loop) break;
    // loop=1: the next pass continues the same stream and timeline.
    if (decoded_ == pictures_before) {
      why = Status(Code::kDecode, "loop=1: the input has no picture to loop over");
      break;
    }
    pts_offset_us_ = std::max<std::int64_t>(pts_offset_us_, last_pts_us + (*reader)->frame_duration_us());
    index_offset_ += decoded_ - pictures_before;
    reader = VideoReader::open(options);
    if (!reader) {
      why = reader.status();
      break;
    }
  }
  delivered = sampled_ > sampled_before;
  // A failure after frames flowed is counted (errors, last error) by the sink on close.
  sink_->close_stream(stream_, delivered ? why : Status::ok());
  return why;
}

Status VideoSource::decode_input(VideoReader& reader, std::int64_t& last_pts_us) {
  auto& stats = sink_->stats();
  std::uint64_t corrupt_seen = 0;
  auto count_corrupt = [&] {
    if (reader.corrupt() > corrupt_seen) {
      stats.count_drop(DropReason::kCorrupt, reader.corrupt() - corrupt_seen);
      corrupt_seen = reader.corrupt();
    }
  };
  while (!stopping_) {
    auto picture = reader.next_picture();
    count_corrupt();
    if (!picture) {
      if (picture.status().code() == Code::kLimit) {
        stats.count_drop(DropReason::kLimit);
        spdlog::debug("{}: {}", name(), picture.status().message());
        continue;
      }
      return picture.status();
    }
    ++decoded_;
    const std::int64_t pts_us = picture->pts_us + pts_offset_us_;
    const std::uint64_t index = picture->index + index_offset_;
    last_pts_us = std::max(last_pts_us, pts_us);
    if (!sampler_.keep(pts_us, index)) continue;
    if (options_.video.realtime && !pace(pts_us)) break;
    Frame frame;
    std::vector<std::uint8_t> pixels;
    const AVFrame& av = *picture->frame;
    const auto [width, height] =
        options_.video.prescale && options_.resize_target
            ? prescaled_size(av.width, av.height, options_.resize_target(av.width, av.height))
            : std::pair<int, int>(av.width, av.height);
    if (auto st = converter_.convert(av, width, height, pixels); !st) {
      stats.count_drop(DropReason::kCorrupt);
      spdlog::debug("{}: {}", name(), st.to_string());
      continue;
    }
    ++sampled_;
    frame.stream = stream_;
    frame.name = video_frame_name(base_name_, index);
    frame.pixels = PixelLayout{converter_.format(), static_cast<std::uint32_t>(width),
                               static_cast<std::uint32_t>(height)};
    frame.payload = Payload(std::move(pixels));
    frame.pts_ms = (pts_us + 500) / 1000;
    frame.origin = origin_;
    frame.arrival = Clock::now();
    const auto pushed = queue_->push(std::move(frame));
    if (!pushed.accepted) return Status(Code::kClosed, "the pipeline is stopping");
    if (pushed.dropped > 0) stats.count_drop(DropReason::kBehind, pushed.dropped);
  }
  return Status(Code::kClosed, "stopping");
}

}  // namespace sluice::video
