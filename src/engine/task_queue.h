// TaskQueue: the FIFO from the batch scheduler to the executors.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace sluice::engine {

/// Multi-producer, multi-consumer. Its length is bounded by the memory budget (every queued
/// task holds frames that acquired budget). close() lets consumers drain what is queued and
/// then return nullopt.
template <typename T>
class TaskQueue {
 public:
  void push(T item) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }
  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace sluice::engine
