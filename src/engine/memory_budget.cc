#include "engine/memory_budget.h"

namespace sluice::engine {

bool MemoryBudget::room_for(std::size_t bytes) const {
  return !paused_ && held_ + external_ + bytes <= limit_;
}

bool MemoryBudget::fits(std::size_t bytes) const {
  std::lock_guard lock(mu_);
  return bytes <= limit_;
}

bool MemoryBudget::acquire(std::size_t bytes) {
  std::unique_lock lock(mu_);
  if (bytes > limit_) return false;
  freed_.wait(lock, [&] { return closed_ || room_for(bytes); });
  if (closed_) return false;
  held_ += bytes;
  return true;
}

bool MemoryBudget::try_acquire(std::size_t bytes) {
  std::lock_guard lock(mu_);
  if (closed_ || !room_for(bytes)) {
    starved_ = true;
    return false;
  }
  held_ += bytes;
  return true;
}

void MemoryBudget::release(std::size_t bytes) {
  {
    std::lock_guard lock(mu_);
    held_ -= bytes;
  }
  wake();
}

void MemoryBudget::wake() {
  freed_.notify_all();
  bool starved = false;
  {
    std::lock_guard lock(mu_);
    starved = starved_;
    starved_ = false;
  }
  if (!starved) return;
  for (const auto& waker : wakers_) waker();
}

void MemoryBudget::on_room(std::function<void()> waker) {
  std::lock_guard lock(mu_);
  wakers_.push_back(std::move(waker));
}

void MemoryBudget::set_external(std::size_t bytes) {
  bool shrank = false;
  {
    std::lock_guard lock(mu_);
    shrank = bytes < external_;
    external_ = bytes;
  }
  if (shrank) wake();
}

void MemoryBudget::set_paused(bool paused) {
  {
    std::lock_guard lock(mu_);
    if (paused_ == paused) return;
    paused_ = paused;
  }
  if (!paused) wake();
}

bool MemoryBudget::paused() const {
  std::lock_guard lock(mu_);
  return paused_;
}

void MemoryBudget::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    starved_ = true;
  }
  wake();
  // The sources that registered wakers may go away after the pipeline stops.
  std::lock_guard lock(mu_);
  wakers_.clear();
}

std::size_t MemoryBudget::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

void MemoryBudget::set_limit(std::size_t limit_bytes) {
  {
    std::lock_guard lock(mu_);
    limit_ = limit_bytes;
    starved_ = true;
  }
  wake();
}

std::size_t MemoryBudget::held() const {
  std::lock_guard lock(mu_);
  return held_ + external_;
}

}  // namespace sluice::engine
