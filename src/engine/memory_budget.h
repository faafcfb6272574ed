// MemoryBudget: the hard bound on the bytes of data in flight.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "util/mutex.h"

namespace sluice::engine {

/// Counts bytes that grow with the stream: frames accepted and not yet done, partial frames,
/// and bytes others report (the dedup index). A source reserves before it holds bytes, and the
/// reservation is released when the frame is done. Sources that cannot reserve stop reading,
/// so TCP flow control pushes back on producers: this one bound is the pipeline's backpressure.
/// Thread-safe.
class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit_bytes) : limit_(limit_bytes) {}

  /// True when `bytes` can ever be reserved (they are at most the limit).
  bool fits(std::size_t bytes) const;
  /// Blocks until `bytes` fit and admission is open, then takes them. Returns false once closed,
  /// or at once when `bytes` can never fit.
  bool acquire(std::size_t bytes);
  /// Takes `bytes` if they fit now and admission is open. When not, every waker registered with
  /// on_room runs once room may have been made.
  bool try_acquire(std::size_t bytes);
  void release(std::size_t bytes);
  /// Registers a callback for try_acquire's callers (an event loop's wake-up). It runs on the
  /// releasing thread, without the budget's lock; it must be quick. Call before any release.
  void on_room(std::function<void()> waker);

  /// Bytes held outside reservations (the dedup index): they count against the limit.
  void set_external(std::size_t bytes);
  /// While paused nothing new is admitted (the output cannot be written); resuming wakes waiters.
  void set_paused(bool paused);
  bool paused() const;
  /// Wakes every waiter (and every waker, once more), then forgets the wakers; later acquire
  /// calls fail. Used at shutdown.
  void close();

  std::size_t held() const;
  std::size_t limit() const;
  void set_limit(std::size_t limit_bytes);

 private:
  bool room_for(std::size_t bytes) const REQUIRES(mu_);
  void wake();

  mutable Mutex mu_;
  CondVar freed_;
  std::size_t limit_ GUARDED_BY(mu_);
  std::size_t held_ GUARDED_BY(mu_) = 0;
  std::size_t external_ GUARDED_BY(mu_) = 0;
  bool paused_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  bool starved_ GUARDED_BY(mu_) = false;  // a try_acquire failed since the last wake
  std::vector<std::function<void()>> wakers_ GUARDED_BY(mu_);
};

}  // namespace sluice::engine
