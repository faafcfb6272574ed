// DecodeAdmission: the hook a decoder calls once an image's header is read and checked, before it
// allocates any buffer for the image, so a caller can reserve memory for it or refuse it.
#pragma once

#include <cstdint>

#include "sluice/status.h"

namespace sluice::vision {

/// What one decode will hold at its peak.
struct DecodePlan {
  int width = 0;   // the decoded image (after any DCT-domain scaling)
  int height = 0;  // both > 0, and width * height within the pixel limit
  /// An upper bound of the bytes the decode allocates: the output pixels, the decoder's
  /// intermediate buffers (a 4-channel or 16-bit decode before conversion, row pointers) and the
  /// codec library's own (libjpeg's coefficient and row buffers, libpng's rows and zlib state).
  std::uint64_t bytes = 0;
};

class DecodeAdmission {
 public:
  virtual ~DecodeAdmission() = default;
  /// An error stops the decode and is returned by it.
  virtual Status admit(const DecodePlan& plan) = 0;
};

}  // namespace sluice::vision
