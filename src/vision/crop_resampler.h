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
#include "vision/resample_kernels.h"
#include "vision/resize_coefficients.h"

namespace sluice::vision {

/// How the tensor's planes are made from the image's channels.
struct PlaneMapping {
  int planes = 0;                                // 1 or 3, as the image's channels
  std::array<int, 3> channel{0, 1, 2};           // the image channel behind each plane
  std::array<Normalisation, 3> normalisation{};  // per plane
};

/// Keeps its coefficient tables and row buffers between calls: after warm-up on the largest
/// image, run() allocates nothing. Not thread-safe: one per thread.
class CropResampler {
 public:
  /// Writes planes x geometry.height x geometry.width floats to `out`; where the crop extends
  /// past the resized image (torchvision's zero padding) the value is that of pixel value 0.
  Status run(const DecodedImage& image, const PreprocessGeometry& geometry, const PlaneMapping& mapping,
             std::span<float> out);

  /// How the last run's horizontal pass loaded its pixels: windows of 16 pixels per group of 4
  /// outputs (1 to kMaxWindows), or 0 for one gather per tap (larger downscales).
  int last_windows() const { return plan_.windows; }

 private:
  // Everything that depends only on the image's size and the geometry: recomputed when they
  // change, kept while they stay the same (a stream of same-sized frames).
  struct Plan {
    int width = 0, height = 0, channels = 0;
    PreprocessGeometry geometry;
    int x0 = 0, y0 = 0;  // the first output column and row inside the resized image
    int columns = 0;     // output columns computed, padded to kColumnAlign
    int taps = 0;        // horizontal taps, the most any output uses
    int windows = 0;     // see HorizontalPass::windows
    int span_begin = 0, span_end = 0;
    int row_begin = 0, row_count = 0;  // the input rows read
    bool same(const DecodedImage& image, const PreprocessGeometry& g) const;
  };
  Status make_plan(const DecodedImage& image, const PreprocessGeometry& g, int x0, int x1, int y0, int y1);

  Plan plan_;
  bool planned_ = false;
  AxisCoefficients horizontal_, vertical_;
  std::vector<std::int32_t> tap_offsets_, tap_weights_;  // taps x padded columns, tap-major
  std::vector<std::int32_t> window_base_;                // per group of kWindowOutputs columns
  std::vector<std::uint8_t> shuffles_;                   // taps x windows x groups x kWindowBytes
  std::vector<int> vertical_first_;                      // vertical_.first relative to row_begin
  std::vector<std::uint8_t> planar_;                     // one input row, de-interleaved
  std::vector<std::uint8_t> rows_;                       // the horizontal pass: planes of rows x columns
  std::vector<const std::uint8_t*> row_pointers_;
  std::vector<std::uint8_t> tail_rows_;  // copies of the image's last rows with room to read past their end
};

}  // namespace sluice::vision
