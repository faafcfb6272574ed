#include "support/degenerate_images.h"

#include <turbojpeg.h>
#include <zlib.h>

#include <memory>
#include <stdexcept>

namespace sluice::test {
namespace {

void put_be32(ImageBytes& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void put_chunk(ImageBytes& png, const char* type, const ImageBytes& data) {
  put_be32(png, static_cast<std::uint32_t>(data.size()));
  const std::size_t at = png.size();
  png.insert(png.end(), type, type + 4);
  png.insert(png.end(), data.begin(), data.end());
  put_be32(png, static_cast<std::uint32_t>(crc32(0, png.data() + at, static_cast<uInt>(png.size() - at))));
}

int png_samples(int color_type) {
  switch (color_type) {
    case 2:
      return 3;
    case 4:
      return 2;
    case 6:
      return 4;
    default:
      return 1;
  }
}

ImageBytes deflated(const ImageBytes& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  ImageBytes out(size);
  if (compress2(out.data(), &size, raw.data(), static_cast<uLong>(raw.size()), 9) != Z_OK) {
    throw std::runtime_error("deflate failed");
  }
  out.resize(size);
  return out;
}

}  // namespace

ImageBytes png_with_header(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type,
                           bool real_rows, int fill) {
  ImageBytes png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  ImageBytes ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(),
              {static_cast<std::uint8_t>(bit_depth), static_cast<std::uint8_t>(color_type), 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  if (real_rows && color_type == 3) {
    ImageBytes plte, trns;
    for (int i = 0; i < 256; ++i) plte.insert(plte.end(), {static_cast<std::uint8_t>(i), 0x40, 0xC0});
    for (int i = 0; i < 16; ++i) trns.push_back(static_cast<std::uint8_t>(i * 16));
    put_chunk(png, "PLTE", plte);
    put_chunk(png, "tRNS", trns);
  }
  ImageBytes idat{0x78, 0x9c, 0x63, 0x00, 0x00};
  if (real_rows) {
    const std::size_t row_bytes =
        (static_cast<std::size_t>(width) * static_cast<std::size_t>(png_samples(color_type) * bit_depth) +
         7) /
        8;
    ImageBytes raw;
    raw.reserve((row_bytes + 1) * height);
    for (std::uint32_t y = 0; y < height; ++y) {
      raw.push_back(0);  // filter: none
      for (std::size_t x = 0; x < row_bytes; ++x) {
        raw.push_back(static_cast<std::uint8_t>(fill >= 0 ? fill : static_cast<int>(x * 7 + (y & 1) * 13)));
      }
    }
    idat = deflated(raw);
  }
  put_chunk(png, "IDAT", idat);
  put_chunk(png, "IEND", {});
  return png;
}

ImageBytes jpeg_image(int width, int height, JpegKind kind) {
  const bool cmyk = kind == JpegKind::kCmyk || kind == JpegKind::kProgressiveCmyk;
  const bool gray = kind == JpegKind::kGray;
  const int format = gray ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB;
  const int samp = gray ? TJSAMP_GRAY : kind == JpegKind::kRgb420 ? TJSAMP_420 : TJSAMP_444;
  int flags = TJFLAG_ACCURATEDCT;
  if (kind == JpegKind::kProgressive || kind == JpegKind::kProgressiveCmyk) flags |= TJFLAG_PROGRESSIVE;
  const auto pixel = static_cast<std::size_t>(tjPixelSize[format]);
  ImageBytes pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * pixel);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>((i * 31) >> 3);
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitCompress(), tjDestroy);
  unsigned char* raw = nullptr;
  unsigned long size = 0;
  if (!handle ||
      tjCompress2(handle.get(), pixels.data(), width, 0, height, format, &raw, &size, samp, 90, flags) != 0) {
    if (raw != nullptr) tjFree(raw);
    throw std::runtime_error("TurboJPEG could not encode the test image");
  }
  ImageBytes out(raw, raw + size);
  tjFree(raw);
  return out;
}

ImageBytes with_jpeg_size(ImageBytes jpeg, std::uint16_t width, std::uint16_t height) {
  for (std::size_t pos = 2; pos + 9 < jpeg.size();) {
    const std::uint8_t marker = jpeg[pos + 1];
    const std::size_t length = (std::size_t{jpeg[pos + 2]} << 8) | jpeg[pos + 3];
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      jpeg[pos + 5] = static_cast<std::uint8_t>(height >> 8);
      jpeg[pos + 6] = static_cast<std::uint8_t>(height);
      jpeg[pos + 7] = static_cast<std::uint8_t>(width >> 8);
      jpeg[pos + 8] = static_cast<std::uint8_t>(width);
      return jpeg;
    }
    pos += 2 + length;
  }
  throw std::runtime_error("no frame header in the JPEG");
}

std::vector<std::pair<std::string, ImageBytes>> degenerate_images() {
  std::vector<std::pair<std::string, ImageBytes>> set;
  set.emplace_back("png_0x0", png_with_header(0, 0, 8, 2, false));
  set.emplace_back("png_0x5", png_with_header(0, 5, 8, 2, false));
  set.emplace_back("png_5x0", png_with_header(5, 0, 8, 2, false));
  set.emplace_back("png_1x1", png_with_header(1, 1, 8, 2, true));
  set.emplace_back("png_1x65535", png_with_header(1, 65535, 8, 0, true));
  set.emplace_back("png_65535x1", png_with_header(65535, 1, 8, 0, true));
  set.emplace_back("png_2p31x1", png_with_header(0x80000000u, 1, 8, 2, false));
  set.emplace_back("png_huge_header", png_with_header(0xFFFFFFFFu, 0xFFFFFFFFu, 8, 2, false));
  set.emplace_back("png_header_lies", png_with_header(2000, 1500, 8, 2, false));
  set.emplace_back("png_rgba", png_with_header(33, 17, 8, 6, true));
  set.emplace_back("png_gray_alpha", png_with_header(33, 17, 8, 4, true));
  set.emplace_back("png_palette_trns", png_with_header(33, 17, 8, 3, true));
  set.emplace_back("png_gray16", png_with_header(33, 17, 16, 0, true));
  set.emplace_back("png_rgba16", png_with_header(33, 17, 16, 6, true));
  set.emplace_back("png_gray1", png_with_header(33, 17, 1, 0, true));
  set.emplace_back("jpeg_gray", jpeg_image(40, 24, JpegKind::kGray));
  set.emplace_back("jpeg_1x1", jpeg_image(1, 1, JpegKind::kRgb420));
  set.emplace_back("jpeg_cmyk", jpeg_image(40, 24, JpegKind::kCmyk));
  set.emplace_back("jpeg_progressive", jpeg_image(40, 24, JpegKind::kProgressive));
  set.emplace_back("jpeg_progressive_cmyk", jpeg_image(40, 24, JpegKind::kProgressiveCmyk));
  set.emplace_back("jpeg_0x0", with_jpeg_size(jpeg_image(16, 16, JpegKind::kRgb444), 0, 0));
  set.emplace_back("jpeg_0x16", with_jpeg_size(jpeg_image(16, 16, JpegKind::kRgb444), 0, 16));
  set.emplace_back("jpeg_65535x65535", with_jpeg_size(jpeg_image(16, 16, JpegKind::kRgb444), 65535, 65535));
  set.emplace_back("jpeg_header_lies", with_jpeg_size(jpeg_image(16, 16, JpegKind::kRgb420), 2000, 1000));
  auto truncated = jpeg_image(64, 48, JpegKind::kRgb420);
  truncated.resize(truncated.size() / 2);
  set.emplace_back("jpeg_truncated", std::move(truncated));
  return set;
}

}  // namespace sluice::test
