#include "vision/antialiased_resize.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace sluice::vision {
namespace {

constexpr std::int32_t kHalf = 1 << (kResizePrecisionBits - 1);

std::uint8_t clip8(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> kResizePrecisionBits, 0, 255));
}

}  // namespace

Status antialiased_resize(const DecodedImage& in, int width, int height, DecodedImage& out,
                          ResizeScratch& work) {
  if (in.width <= 0 || in.height <= 0 || width <= 0 || height <= 0 || in.channels <= 0) {
    return Status(Code::kInvalidArgument,
                  fmt::format("cannot resize {}x{} to {}x{}", in.width, in.height, width, height));
  }
  const auto ch = static_cast<std::size_t>(in.channels);
  const bool horizontal = width != in.width, vertical = height != in.height;
  if (auto st = compute_axis_coefficients(in.width, width, 0, width, work.horizontal); !st) return st;
  if (auto st = compute_axis_coefficients(in.height, height, 0, height, work.vertical); !st) return st;
  const AxisCoefficients& h = work.horizontal;
  const AxisCoefficients& v = work.vertical;
  // Pillow's box optimisation: the horizontal pass covers the rows the vertical pass reads.
  const int row_first = vertical ? v.first.front() : 0;
  const int row_end = vertical ? v.input_end() : in.height;
  const auto row_in = static_cast<std::size_t>(in.width) * ch;
  const auto row_out = static_cast<std::size_t>(width) * ch;
  const std::uint8_t* source = in.pixels.data() + static_cast<std::size_t>(row_first) * row_in;
  std::size_t source_row = row_in;
  if (horizontal) {
    work.rows.resize(static_cast<std::size_t>(row_end - row_first) * row_out);
    for (int y = row_first; y < row_end; ++y) {
      const std::uint8_t* src = in.pixels.data() + static_cast<std::size_t>(y) * row_in;
      std::uint8_t* dst = work.rows.data() + static_cast<std::size_t>(y - row_first) * row_out;
      for (int x = 0; x < width; ++x) {
        const std::int32_t* w = h.row(x);
        const auto first = static_cast<std::size_t>(h.first[static_cast<std::size_t>(x)]);
        for (std::size_t c = 0; c < ch; ++c) {
          std::int32_t sum = kHalf;
          for (int k = 0; k < h.count[static_cast<std::size_t>(x)]; ++k) {
            sum += src[(first + static_cast<std::size_t>(k)) * ch + c] * w[k];
          }
          dst[static_cast<std::size_t>(x) * ch + c] = clip8(sum);
        }
      }
    }
    source = work.rows.data();
    source_row = row_out;
  }
  out.width = width;
  out.height = height;
  out.channels = in.channels;
  out.pixels.resize(row_out * static_cast<std::size_t>(height));
  if (!vertical) {
    for (int y = 0; y < height; ++y) {
      std::memcpy(out.pixels.data() + static_cast<std::size_t>(y) * row_out,
                  source + static_cast<std::size_t>(y) * source_row, row_out);
    }
    return Status::ok();
  }
  for (int y = 0; y < height; ++y) {
    const std::int32_t* w = v.row(y);
    const auto first = static_cast<std::size_t>(v.first[static_cast<std::size_t>(y)] - row_first);
    std::uint8_t* dst = out.pixels.data() + static_cast<std::size_t>(y) * row_out;
    for (std::size_t i = 0; i < row_out; ++i) {
      std::int32_t sum = kHalf;
      for (int k = 0; k < v.count[static_cast<std::size_t>(y)]; ++k) {
        sum += source[(first + static_cast<std::size_t>(k)) * source_row + i] * w[k];
      }
      dst[i] = clip8(sum);
    }
  }
  return Status::ok();
}

}  // namespace sluice::vision
