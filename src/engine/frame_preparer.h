// FramePreparer: one encoded image to its slot of a batch tensor (decode, then preprocess), as
// an executor does it: within the pixel limit and the decode share of the memory budget.
#pragma once

#include <cstdint>
#include <span>

#include "engine/memory_budget.h"
#include "sluice/frame.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"

namespace sluice::engine {

/// Not thread-safe: each executor (or benchmark thread) owns one. Keeps its buffers between
/// images, except one larger than 16 MiB, which it gives back.
class FramePreparer {
 public:
  /// `decode_budget` may be null (no bound besides `max_pixels`).
  FramePreparer(vision::Preprocessor preprocessor, std::uint64_t max_pixels, bool jpeg_dct_scaling,
                MemoryBudget* decode_budget);
  FramePreparer(FramePreparer&&) = delete;

  /// Decodes `frame` (or takes its raw pixels: a decoded video picture) and writes the
  /// preprocessed tensor to `out` (tensor_elements() floats).
  Status prepare(const Frame& frame, std::span<float> out);
  /// The same for encoded bytes.
  Status prepare(std::span<const std::uint8_t> bytes, std::span<float> out);

  const vision::Preprocessor& preprocessor() const { return preprocessor_; }

 private:
  /// Reserves the decode budget for a width x height image (and its resize), after the pixel
  /// limit; `reserved` says how much to give back.
  Status reserve(std::uint64_t width, std::uint64_t height, std::size_t& reserved);
  /// Copies a raw frame's pixels into image_, checked as an image header would be.
  Status adopt_raw_pixels(const Frame& frame);

  vision::Preprocessor preprocessor_;
  std::uint64_t max_pixels_;
  MemoryBudget* decode_budget_;
  vision::ImageDecoder decoder_;
  vision::DecodedImage image_;
};

}  // namespace sluice::engine
