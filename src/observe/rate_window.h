// RateWindow: the recent rate of a growing counter (frames/s), from samples taken by its reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

#include "sluice/frame.h"

namespace sluice::observe {

class RateWindow {
 public:
  /// The rate is measured over about `window`; samples closer than `spacing` are merged.
  explicit RateWindow(std::chrono::milliseconds window = std::chrono::seconds(5),
                      std::chrono::milliseconds spacing = std::chrono::milliseconds(200))
      : window_(window), spacing_(spacing) {}

  /// Records that the counter was `total` at `now`. `now` never decreases; nor does `total`.
  void sample(Clock::time_point now, std::uint64_t total);
  /// Per second over the samples kept; 0 until two samples exist.
  double per_second() const;

 private:
  struct Sample {
    Clock::time_point t;
    std::uint64_t total;
  };
  std::chrono::milliseconds window_;
  std::chrono::milliseconds spacing_;
  std::deque<Sample> samples_;
};

}  // namespace sluice::observe
