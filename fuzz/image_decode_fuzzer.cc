// Fuzzes image decoding and preprocessing as an executor runs them on a payload from the wire:
// JPEG and PNG, gray and RGB, with a pixel limit small enough that lying headers are caught.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vision/image_decoder.h"
#include "vision/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static sluice::vision::ImageDecoder decoder(1u << 22);
  static const auto rgb =
      *sluice::vision::Preprocessor::create(sluice::vision::imagenet_preset(), 3, 224, 224);
  static const auto gray = [] {
    sluice::vision::PreprocessSpec spec;
    spec.color = sluice::vision::ColorOrder::kGray;
    spec.resize = sluice::vision::ResizeMode::kStretch;
    spec.resize_width = spec.resize_height = 28;
    return *sluice::vision::Preprocessor::create(spec, 1, 28, 28);
  }();
  static std::vector<float> tensor(3 * 224 * 224);
  sluice::vision::DecodedImage image;
  const bool want_gray = size > 0 && (data[size - 1] & 1);
  if (decoder.decode({data, size}, want_gray ? 1 : 3, image)) {
    (void)(want_gray ? gray : rgb).run(image, tensor);
  }
  return 0;
}
