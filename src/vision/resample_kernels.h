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

struct HorizontalPass {
  /// Input rows. Each must be readable for 4 bytes from the start of any of its pixels (a vector
  /// kernel loads a whole 32-bit word per tap).
  const std::uint8_t* const* rows = nullptr;
  int row_count = 0;
  int channels = 0;  // bytes per input pixel: 1 or 3
  int columns = 0;   // output columns, a multiple of kColumnAlign
  int taps = 0;
  const std::int32_t* offsets = nullptr;  // taps x columns: the byte offset in its row of each tap's pixel
  const std::int32_t* weights = nullptr;  // taps x columns: 2^22-scaled; 0 past an output's count
  std::uint8_t* out = nullptr;            // `channels` planes of row_count x columns bytes
  std::size_t plane_stride = 0;
};

struct VerticalPass {
  const std::uint8_t* in = nullptr;  // one plane of the horizontal pass: rows x columns bytes
  int columns = 0;                   // its row stride, a multiple of kColumnAlign
  int rows_out = 0;
  int taps = 0;
  const int* first = nullptr;             // per output row: the first input row
  const int* count = nullptr;             // per output row: input rows read
  const std::int32_t* weights = nullptr;  // rows_out x taps
  const float* lut = nullptr;             // 256 floats: the tensor value of each pixel value
  float* out = nullptr;                   // rows_out rows of `width` floats, out_stride apart
  std::size_t out_stride = 0;
  int width = 0;  // floats written per row (<= columns)
};

void run_horizontal_pass(const HorizontalPass& pass);
void run_vertical_pass(const VerticalPass& pass);

}  // namespace sluice::vision
