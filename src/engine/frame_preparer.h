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
  /// The bytes the last frame needed at its peak (decode and preprocessing buffers), as reserved
  /// from the decode budget when there is one; 0 when it failed before its header was checked.
  std::uint64_t last_need_bytes() const { return last_need_; }
  /// The bytes the decoder's own buffers (or a raw frame's copy) took for the last frame: at most
  /// last_need_bytes().
  std::uint64_t last_decoder_bytes() const { return last_decoder_; }

 private:
  /// Checks a width x height image (already within the pixel limit) against the preprocessing,
  /// then reserves `decode_bytes` plus what preprocessing it takes; `reserved` says how much to
  /// give back. Called before any buffer for the image exists.
  Status reserve(int width, int height, std::uint64_t decode_bytes, std::size_t& reserved);
  /// Copies a raw frame's pixels into image_, checked as an image header would be.
  Status adopt_raw_pixels(const Frame& frame);

  vision::Preprocessor preprocessor_;
  std::uint64_t max_pixels_;
  MemoryBudget* decode_budget_;
  vision::ImageDecoder decoder_;
  vision::DecodedImage image_;
  std::uint64_t last_need_ = 0;
  std::uint64_t last_decoder_ = 0;
};

}  // namespace sluice::engine
