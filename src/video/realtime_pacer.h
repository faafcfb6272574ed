// RealtimePacer: when a picture is due if a file is read at its native rate, as a camera would
// deliver it.
#pragma once

#include <chrono>
#include <cstdint>

namespace sluice::video {

class RealtimePacer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  /// The wall-clock time at which the picture at `pts_us` is due: the first call anchors the
  /// stream's time to now; later pictures are due as much later as their pts is.
  TimePoint due(std::int64_t pts_us) {
    if (!anchored_) {
      anchored_ = true;
      wall_ = std::chrono::steady_clock::now();
      pts_us_ = pts_us;
    }
    return wall_ + std::chrono::microseconds(pts_us - pts_us_);
  }
  /// Forgets the anchor (a new stream starts).
  void reset() { anchored_ = false; }

 private:
  bool anchored_ = false;
  TimePoint wall_{};
  std::int64_t pts_us_ = 0;
};

}  // namespace sluice::video
