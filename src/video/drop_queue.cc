#include "video/drop_queue.h"

namespace sluice::video {

DropQueue::PushResult DropQueue::push(Frame frame) {
  PushResult result;
  std::optional<Frame> discarded;  // released outside the lock
  {
    MutexLock lock(mu_);
    if (policy_ == DropPolicy::kNone) {
      not_full_.wait(mu_, [&]() REQUIRES(mu_) { return closed_ || finished_ || frames_.size() < capacity_; });
    }
    if (closed_ || finished_) return result;
    if (frames_.size() >= capacity_) {
      result.dropped = 1;
      if (policy_ == DropPolicy::kNewest) {
        result.accepted = true;  // taken, and let go: the caller counts it as dropped
        return result;
      }
      discarded = std::move(frames_.front());
      frames_.pop_front();
      bytes_ -= discarded->payload.size();
    }
    bytes_ += frame.payload.size();
    frames_.push_back(std::move(frame));
    publish();
    result.accepted = true;
  }
  not_empty_.notify_one();
  return result;
}

std::optional<Frame> DropQueue::pop() {
  std::optional<Frame> frame;
  {
    MutexLock lock(mu_);
    not_empty_.wait(mu_, [&]() REQUIRES(mu_) { return closed_ || finished_ || !frames_.empty(); });
    if (closed_ || frames_.empty()) return std::nullopt;
    frame = std::move(frames_.front());
    frames_.pop_front();
    bytes_ -= frame->payload.size();
    publish();
  }
  not_full_.notify_one();
  return frame;
}

void DropQueue::finish() {
  {
    MutexLock lock(mu_);
    finished_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
}

void DropQueue::close() {
  {
    MutexLock lock(mu_);
    closed_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
}

std::vector<Frame> DropQueue::take_all() {
  MutexLock lock(mu_);
  std::vector<Frame> out(std::make_move_iterator(frames_.begin()), std::make_move_iterator(frames_.end()));
  frames_.clear();
  bytes_ = 0;
  publish();
  return out;
}

std::size_t DropQueue::bytes() const {
  MutexLock lock(mu_);
  return bytes_;
}

std::size_t DropQueue::size() const {
  MutexLock lock(mu_);
  return frames_.size();
}

}  // namespace sluice::video
