// FrameSampler: which decoded pictures become frames (fps=N by stream time, every=N by count).
#pragma once

#include <cstdint>
#include <optional>

namespace sluice::video {

class FrameSampler {
 public:
  /// `fps` > 0: the first picture of every 1/fps-second slot of stream time (a stream slower
  /// than `fps` keeps every picture). `every` > 1: pictures 0, N, 2N, ... of the stream.
  FrameSampler(double fps, std::uint64_t every) : fps_(fps), every_(every == 0 ? 1 : every) {}

  /// Decides for a picture at `pts_us` (non-decreasing) that is the `index`-th decoded one.
  bool keep(std::int64_t pts_us, std::uint64_t index);
  /// Forgets the last slot (a new stream starts).
  void reset() { last_slot_.reset(); }

 private:
  double fps_;
  std::uint64_t every_;
  std::optional<std::int64_t> last_slot_;
};

}  // namespace sluice::video
