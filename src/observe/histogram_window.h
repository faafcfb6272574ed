// HistogramWindow: what a histogram saw during the last few seconds (for "p99 now", not since start).
#pragma once

#include <chrono>
#include <deque>

#include "observe/histogram.h"
#include "sluice/frame.h"

namespace sluice::observe {

/// Not thread-safe: one reader owns it (the status API under its lock, the terminal thread).
class HistogramWindow {
 public:
  explicit HistogramWindow(const Histogram& histogram,
                           std::chrono::milliseconds window = std::chrono::seconds(10))
      : histogram_(histogram), window_(window) {}

  /// Takes a snapshot at `now` and returns what was observed since the oldest one kept, which is
  /// about `window` old once the window has filled.
  Histogram::Snapshot recent(Clock::time_point now);

 private:
  struct Sample {
    Clock::time_point t;
    Histogram::Snapshot snapshot;
  };
  const Histogram& histogram_;
  std::chrono::milliseconds window_;
  std::deque<Sample> samples_;
};

}  // namespace sluice::observe
