#include "vision/image_encoder.h"

#include <png.h>

#include <fmt/format.h>

namespace sluice::vision {

Result<std::vector<std::uint8_t>> encode_png(std::span<const std::uint8_t> pixels, int width, int height,
                                             int channels) {
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) ||
      pixels.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
                           static_cast<std::size_t>(channels)) {
    return Status(Code::kInvalidArgument, fmt::format("cannot encode {}x{}x{} from {} bytes", width, height,
                                                      channels, pixels.size()));
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  // First call measures, second call writes.
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr)) {
    return Status(Code::kInternal, fmt::format("libpng: {}", image.message));
  }
  std::vector<std::uint8_t> out(size);
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, nullptr)) {
    return Status(Code::kInternal, fmt::format("libpng: {}", image.message));
  }
  out.resize(size);
  return out;
}

}  // namespace sluice::vision
