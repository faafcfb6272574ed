#include "video/frame_sampler.h"

#include <cmath>

namespace sluice::video {

bool FrameSampler::keep(std::int64_t pts_us, std::uint64_t index) {
  if (fps_ <= 0) return index % every_ == 0;
  // pts_us is an integer count of microseconds, so the slot of a picture exactly on a slot
  // boundary (t = k / fps) is k; the 1e-6 absorbs the rounding of k / fps itself.
  const auto slot = static_cast<std::int64_t>(std::floor(static_cast<double>(pts_us) * fps_ / 1e6 + 1e-6));
  if (last_slot_ && slot <= *last_slot_) return false;
  last_slot_ = slot;
  return true;
}

}  // namespace sluice::video
