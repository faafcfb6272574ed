// CropResampler: Pillow's antialiased bilinear resize followed by torchvision's CenterCrop,
// computing only the pixels the crop keeps: the horizontal pass only for the crop's columns and
// for the input rows the crop's rows read, the vertical pass only for the crop's rows. Each
// kept pixel is bit-identical to the same pixel of Pillow's full resize (each output pixel of a
// pass depends only on its own coefficients), and goes through a per-plane lookup table
// straight into the CHW float tensor.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "sluice/status.h"
#include "vision/image.h"
#include "vision/preprocess.h"
#include "vision/resize_coefficients.h"

namespace sluice::vision {

/// How the tensor's planes are made from the image's channels.
struct PlaneMapping {
  int planes = 0;                       // 1 or 3, as the image's channels
  std::array<int, 3> channel{0, 1, 2};  // the image channel behind each plane
  std::array<const float*, 3> lut{};    // per plane: 256 floats, the value of each pixel value
};

/// Keeps its coefficient tables and row buffers between calls: after warm-up on the largest
/// image, run() allocates nothing. Not thread-safe: one per thread.
class CropResampler {
 public:
  /// Writes planes x geometry.height x geometry.width floats to `out`; where the crop extends
  /// past the resized image (torchvision's zero padding) the value is that of pixel value 0.
  Status run(const DecodedImage& image, const PreprocessGeometry& geometry, const PlaneMapping& mapping,
             std::span<float> out);

 private:
  AxisCoefficients horizontal_, vertical_;
  std::vector<std::int32_t> tap_offsets_, tap_weights_;  // taps x padded columns, tap-major
  std::vector<std::uint8_t> rows_;                       // the horizontal pass: planes of rows x columns
  std::vector<const std::uint8_t*> row_pointers_;
  std::vector<std::uint8_t> tail_rows_;  // copies of the image's last rows with room to read past their end
  std::vector<int> vertical_first_;      // vertical_.first relative to the first row computed
};

}  // namespace sluice::vision
