// MemoryBudget: the hard bound on payload bytes held anywhere in the pipeline.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace sluice::engine {

/// Counts the payload bytes of frames that are accepted but have no result yet. A source acquires
/// before it stores a frame and blocks while the budget is spent; the executor releases once the
/// frame's result line is written. Because a blocked source stops reading its sockets, TCP flow
/// control pushes back on producers: this one bound is the pipeline's backpressure.
class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit_bytes) : limit_(limit_bytes) {}

  /// Blocks until `bytes` fit, then takes them. A single request larger than the whole budget is
  /// admitted when nothing else is held, so it cannot wait forever. Returns false once closed.
  bool acquire(std::size_t bytes);
  void release(std::size_t bytes);
  /// Wakes every waiter; later acquire calls fail. Used at shutdown.
  void close();

  std::size_t held() const;
  std::size_t limit() const;
  /// Changes the limit (at start-up, once the fixed costs are known).
  void set_limit(std::size_t limit_bytes);

 private:
  std::size_t limit_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::size_t held_ = 0;
  bool closed_ = false;
};

}  // namespace sluice::engine
