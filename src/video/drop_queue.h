// DropQueue: the small bounded queue between a video source's decoding thread and the thread that
// stores frames into the pipeline. A live source never waits on it: when it is full, the drop
// policy lets a frame go and counts it. A file source waits (back-pressure).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "sluice/frame.h"
#include "util/mutex.h"
#include "video/video_options.h"

namespace sluice::video {

class DropQueue {
 public:
  /// At most `capacity` frames (>= 1) wait.
  DropQueue(std::size_t capacity, DropPolicy policy)
      : capacity_(capacity == 0 ? 1 : capacity), policy_(policy) {}

  struct PushResult {
    bool accepted = false;    // false: closed, the frame was not taken
    std::size_t dropped = 0;  // frames let go to make room (kOldest) or the new one (kNewest)
  };
  /// Adds `frame`. When full: kNone waits for room, kOldest discards the oldest frame, kNewest
  /// discards `frame`. After close() nothing is taken.
  PushResult push(Frame frame);
  /// The oldest frame; waits while the queue is empty and open. nullopt once closed (or
  /// finished) and empty.
  std::optional<Frame> pop();
  /// No more frames will come: pop() returns what is queued, then nullopt.
  void finish();
  /// Stops at once: waiting push() and pop() return; frames still queued stay for take_all().
  void close();
  /// Removes and returns every queued frame.
  std::vector<Frame> take_all();

  /// Keeps `*gauge` equal to bytes() (a source's queued_bytes statistic); call before use.
  void set_gauge(std::atomic<std::uint64_t>* gauge) { gauge_ = gauge; }

  /// Payload bytes queued now.
  std::size_t bytes() const;
  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }

 private:
  void publish() REQUIRES(mu_) {
    if (gauge_ != nullptr) gauge_->store(bytes_, std::memory_order_relaxed);
  }

  const std::size_t capacity_;
  const DropPolicy policy_;
  mutable Mutex mu_;
  CondVar not_empty_;
  CondVar not_full_;
  std::deque<Frame> frames_ GUARDED_BY(mu_);
  std::size_t bytes_ GUARDED_BY(mu_) = 0;
  std::atomic<std::uint64_t>* gauge_ = nullptr;
  bool finished_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace sluice::video
