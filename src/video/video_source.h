// VideoSource (video): frames from a video file, camera or stream, decoded by FFmpeg straight
// into raw pixels. Live inputs are shed (drop policy), files are back-pressured, network inputs
// are reconnected with backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "source/source.h"
#include "util/mutex.h"
#include "video/drop_queue.h"
#include "video/frame_sampler.h"
#include "video/pixel_converter.h"
#include "video/prescale.h"
#include "video/realtime_pacer.h"
#include "video/video_options.h"
#include "video/video_reader.h"

namespace sluice::video {

struct VideoSourceOptions {
  VideoOptions video;
  std::uint64_t max_pixels = 64ull << 20;
  PixelFormat pixels = PixelFormat::kRgb24;  // what the model takes: RGB24 or GRAY8
  std::string name;                          // "video URL?keys", without credentials
  ResizeTarget resize_target;                // empty, or with video.prescale: see prescaled_size
};

/// Two threads. The decoding thread opens the input, decodes, samples (fps, every, keyframes),
/// converts each kept picture to pixels and pushes it into a DropQueue of `queue` frames; the
/// storing thread pops and calls FrameSink::store, which blocks while the pipeline is full.
/// So a live input (drop=oldest|newest) never waits on the pipeline: when the queue is full a
/// frame is let go and counted (reason "behind"); a file (drop=none) waits, as TCP producers do.
///
/// Streams: each opened session (a connection to a camera, or a file from its start, loops
/// included) is one stream; seq counts the frames it stored (dropped frames take none, so seq
/// has no gaps); pts_ms never decreases within it.
/// A network input that fails or ends is reopened after 100 ms, 200 ms, ... up to
/// reconnect_max_backoff (state "reconnecting", SourceStats::restarts counts the attempts); an
/// input that cannot work (no video stream, an unknown codec, over --max-pixels, an unused
/// option) fails the source (state "failed") and is not retried. A file ends when its pictures
/// do (state "stopped"), unless loop=1.
class VideoSource final : public source::Source {
 public:
  explicit VideoSource(VideoSourceOptions options);
  ~VideoSource() override;
  VideoSource(const VideoSource&) = delete;
  VideoSource& operator=(const VideoSource&) = delete;

  std::string name() const override { return options_.name; }
  /// Starts the threads and returns; the input is opened by the decoding thread, so an input that
  /// is down or broken never stops the pipeline's start-up.
  Status start(source::FrameSink& sink) override;
  /// Stops both threads; frames still queued are counted as dropped (reason "stopped").
  void stop() override;

  /// True once both threads have ended (the input finished or failed and every queued frame was
  /// stored, or the source was stopped).
  bool finished() const { return decoder_done_ && storer_done_; }

 private:
  void decode_loop();
  void store_loop();
  /// Opens the input and runs it until it ends, fails or the source stops. `delivered`: a frame
  /// was queued. The status is the reason it ended (kClosed: end of input or stopping).
  Status run_session(bool& delivered);
  /// Decodes one opened input until it ends; `last_pts_us` is the last sampled picture's time.
  Status decode_input(VideoReader& reader, std::int64_t& last_pts_us);
  /// Realtime: waits until the wall clock reaches `pts_us`; false when stopping.
  bool pace(std::int64_t pts_us);
  bool sleep_unless_stopped(std::chrono::milliseconds delay);

  VideoSourceOptions options_;
  std::string base_name_;                      // for frame names
  std::shared_ptr<const std::string> origin_;  // the URL without credentials, on every frame
  source::FrameSink* sink_ = nullptr;
  std::unique_ptr<DropQueue> queue_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> decoder_done_{false};
  std::atomic<bool> storer_done_{false};
  Mutex mu_;  // with wake_: sleeps end at once when stopping_ is set
  CondVar wake_;
  std::thread decoder_;
  std::thread storer_;

  // Decoding thread only.
  PixelConverter converter_;
  FrameSampler sampler_;
  std::uint64_t stream_ = 0;
  std::int64_t pts_offset_us_ = 0;  // loops: the time of the passes before this one
  std::uint64_t index_offset_ = 0;  // loops: the pictures of the passes before this one
  RealtimePacer pacer_;
  std::uint64_t decoded_ = 0, sampled_ = 0;
};

}  // namespace sluice::video
