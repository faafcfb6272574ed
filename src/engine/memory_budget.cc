#include "engine/memory_budget.h"

namespace sluice::engine {

bool MemoryBudget::room_for(std::size_t bytes) const {
  return !paused_ && held_ + external_ + bytes <= limit_;
}

bool MemoryBudget::fits(std::size_t bytes) const {
  MutexLock lock(mu_);
  return bytes <= limit_;
}

bool MemoryBudget::acquire(std::size_t bytes) {
  MutexLock lock(mu_);
  if (bytes > limit_) return false;
  freed_.wait(mu_, [&]() REQUIRES(mu_) { return closed_ || room_for(bytes); });
  if (closed_) return false;
  held_ += bytes;
  return true;
}

bool MemoryBudget::try_acquire(std::size_t bytes) {
  MutexLock lock(mu_);
  if (closed_ || !room_for(bytes)) {
    starved_ = true;
    return false;
  }
  held_ += bytes;
  return true;
}

void MemoryBudget::release(std::size_t bytes) {
  {
    MutexLock lock(mu_);
    held_ -= bytes;
  }
  wake();
}

void MemoryBudget::wake() {
  freed_.notify_all();
  bool starved = false;
  {
    MutexLock lock(mu_);
    starved = starved_;
    starved_ = false;
  }
  if (!starved) return;
  std::vector<std::function<void()>> wakers;
  {
    MutexLock lock(mu_);
    wakers = wakers_;
  }
  for (const auto& waker : wakers) waker();
}

void MemoryBudget::on_room(std::function<void()> waker) {
  MutexLock lock(mu_);
  wakers_.push_back(std::move(waker));
}

void MemoryBudget::set_external(std::size_t bytes) {
  bool shrank = false;
  {
    MutexLock lock(mu_);
    shrank = bytes < external_;
    external_ = bytes;
  }
  if (shrank) wake();
}

void MemoryBudget::set_paused(bool paused) {
  {
    MutexLock lock(mu_);
    if (paused_ == paused) return;
    paused_ = paused;
  }
  if (!paused) wake();
}

bool MemoryBudget::paused() const {
  MutexLock lock(mu_);
  return paused_;
}

void MemoryBudget::close() {
  {
    MutexLock lock(mu_);
    closed_ = true;
    starved_ = true;
  }
  wake();
  // The sources that registered wakers may go away after the pipeline stops.
  MutexLock lock(mu_);
  wakers_.clear();
}

std::size_t MemoryBudget::limit() const {
  MutexLock lock(mu_);
  return limit_;
}

void MemoryBudget::set_limit(std::size_t limit_bytes) {
  {
    MutexLock lock(mu_);
    limit_ = limit_bytes;
    starved_ = true;
  }
  wake();
}

std::size_t MemoryBudget::held() const {
  MutexLock lock(mu_);
  return held_ + external_;
}

}  // namespace sluice::engine
