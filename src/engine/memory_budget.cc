#include "engine/memory_budget.h"

namespace sluice::engine {

bool MemoryBudget::acquire(std::size_t bytes) {
  std::unique_lock lock(mu_);
  freed_.wait(lock, [&] { return closed_ || held_ == 0 || held_ + bytes <= limit_; });
  if (closed_) return false;
  held_ += bytes;
  return true;
}

void MemoryBudget::release(std::size_t bytes) {
  {
    std::lock_guard lock(mu_);
    held_ -= bytes;
  }
  freed_.notify_all();
}

void MemoryBudget::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  freed_.notify_all();
}

std::size_t MemoryBudget::limit() const {
  std::lock_guard lock(mu_);
  return limit_;
}

void MemoryBudget::set_limit(std::size_t limit_bytes) {
  {
    std::lock_guard lock(mu_);
    limit_ = limit_bytes;
  }
  freed_.notify_all();
}

std::size_t MemoryBudget::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

}  // namespace sluice::engine
