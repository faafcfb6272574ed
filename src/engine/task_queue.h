// TaskQueue: the FIFO from the batch scheduler to the executors.
#pragma once

#include <deque>
#include <optional>

#include "util/mutex.h"

namespace sluice::engine {

/// Multi-producer, multi-consumer. Its length is bounded by the memory budget (every queued
/// task holds frames that acquired budget). close() lets consumers drain what is queued and
/// then return nullopt.
template <typename T>
class TaskQueue {
 public:
  void push(T item) {
    {
      MutexLock lock(mu_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }
  std::optional<T> pop() {
    MutexLock lock(mu_);
    ready_.wait(mu_, [&]() REQUIRES(mu_) { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void close() {
    {
      MutexLock lock(mu_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  std::size_t size() const {
    MutexLock lock(mu_);
    return items_.size();
  }

 private:
  mutable Mutex mu_;
  CondVar ready_;
  std::deque<T> items_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
};

}  // namespace sluice::engine
