// The two passes of Pillow's fixed-point resize (ImagingResampleHorizontal_8bpc and
// ImagingResampleVertical_8bpc) over a window of output pixels. Each sum starts at 2^21 (half of
// the 2^22 coefficient scale) and is clipped to 0..255 after an arithmetic shift by 22, as
// Pillow's clip8 does, so the results are bit-identical to Pillow's whatever the vector width.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::vision {

/// Output columns are processed in groups of this many; tables and rows are padded to it (the
/// widest vector: 16 int32 lanes of AVX-512).
inline constexpr int kColumnAlign = 16;

/// Every input row must be readable this many bytes past its end: vector kernels load whole
/// vectors (up to 3 x 64 bytes when de-interleaving RGB) that may run past the last pixel.
inline constexpr std::size_t kRowSlack = 256;

/// Outputs that share a channel's windows of 16 pixels (one 128-bit block of 4 int32 lanes), and
/// the most windows a group may use (its inputs then span up to 64 pixels: scales up to about 12).
inline constexpr int kWindowOutputs = 4;
inline constexpr int kWindowBytes = 16;
inline constexpr int kMaxWindows = 4;

/// A pixel value's float in the tensor as torchvision computes it in float32: ToTensor's
/// v / 255, then Normalize's (x - mean) / std. `divide` is false only for a scale whose inverse
/// is not a whole number; v * scale then stands for the division.
struct Normalisation {
  bool divide = true;
  float divisor = 255.0f;
  float scale = 1.0f / 255.0f;
  float mean = 0.0f;
  float std = 1.0f;
  float operator()(int v) const {
    const float x = divide ? static_cast<float>(v) / divisor : static_cast<float>(v) * scale;
    return (x - mean) / std;
  }
};

struct HorizontalPass {
  const std::uint8_t* const* rows = nullptr;  // input rows, each readable kRowSlack bytes past its end
  int row_count = 0;
  int channels = 0;  // bytes per input pixel: 1 or 3
  int columns = 0;   // output columns, a multiple of kColumnAlign
  int taps = 0;
  const std::int32_t* weights = nullptr;  // taps x columns: 2^22-scaled; 0 past an output's count
  std::uint8_t* out = nullptr;            // `channels` planes of row_count x columns bytes
  std::size_t plane_stride = 0;

  /// The fast path, when `windows` > 0: the inputs of every group of kWindowOutputs outputs lie
  /// in `windows` x kWindowBytes pixels from the group's window_base, so `windows` 16-byte loads
  /// per channel and as many byte shuffles per tap (index 0x80: zero), ORed, give each lane its
  /// pixel. Pixels [span_begin, span_end) of each row are de-interleaved into `planar` first (3
  /// planes of planar_stride bytes, for 3 channels).
  int windows = 0;
  int span_begin = 0, span_end = 0;
  const std::int32_t* window_base = nullptr;  // per group: its first pixel, relative to span_begin
  const std::uint8_t* shuffles = nullptr;     // taps x windows x groups x kWindowBytes
  std::uint8_t* planar = nullptr;
  std::size_t planar_stride = 0;

  /// Otherwise (windows == 0), one 32-bit gather per lane and tap (any scale).
  const std::int32_t* offsets = nullptr;  // taps x columns: the byte offset in its row of each tap's pixel
};

struct VerticalPass {
  const std::uint8_t* in = nullptr;  // one plane of the horizontal pass: rows x columns bytes
  int columns = 0;                   // its row stride, a multiple of kColumnAlign
  int rows_out = 0;
  int taps = 0;
  const int* first = nullptr;             // per output row: the first input row
  const int* count = nullptr;             // per output row: input rows read
  const std::int32_t* weights = nullptr;  // rows_out x taps
  Normalisation normalisation;  // the kernels compute it with the same float operations, lane by lane
  float* out = nullptr;         // rows_out rows of `width` floats, out_stride apart
  std::size_t out_stride = 0;
  int width = 0;  // floats written per row (<= columns)
};

/// Both run on the best SIMD target the CPU supports among those compiled (see simd_target.h).
void run_horizontal_pass(const HorizontalPass& pass);
void run_vertical_pass(const VerticalPass& pass);

/// The Highway target (HWY_AVX2, ...) the kernels dispatch to now, and the set compiled.
std::int64_t resample_kernels_target();
std::int64_t resample_kernels_compiled_targets();

}  // namespace sluice::vision
