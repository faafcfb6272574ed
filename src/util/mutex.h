// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with thread-safety
// annotations, so that clang can check that every GUARDED_BY member is only touched under its lock
// (libstdc++'s own types carry no annotations).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace sluice {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  /// Tells the analysis that the caller holds the lock (where it cannot see it).
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

/// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

/// A condition variable for a Mutex the caller holds.
class CondVar {
 public:
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

  /// Waits until `ready()`; `mu` is held on entry and on return.
  template <typename Predicate>
  void wait(Mutex& mu, Predicate ready) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock, ready);
    lock.release();
  }
  /// Waits until `ready()` or `deadline`; returns ready().
  template <typename Clock, typename Duration, typename Predicate>
  bool wait_until(Mutex& mu, const std::chrono::time_point<Clock, Duration>& deadline, Predicate ready)
      REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool result = cv_.wait_until(lock, deadline, ready);
    lock.release();
    return result;
  }
  template <typename Rep, typename Period, typename Predicate>
  bool wait_for(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout, Predicate ready) REQUIRES(mu) {
    return wait_until(mu, std::chrono::steady_clock::now() + timeout, ready);
  }
  /// One wait: returns on a notification, at `timeout`, or spuriously; the caller re-checks.
  template <typename Rep, typename Period>
  void wait_once_for(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait_for(lock, timeout);
    lock.release();
  }

 private:
  std::condition_variable cv_;
};

}  // namespace sluice
