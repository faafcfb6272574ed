// Tests for ImageDecoder (JPEG and PNG) and encode_png, on images built in the test.
#include "vision/image_decoder.h"

#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "sluice/status.h"
#include "vision/image_encoder.h"
#include "vision/pillow_convert.h"

namespace sluice::vision {
namespace {

using Bytes = std::vector<std::uint8_t>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A gray gradient, so a round trip that mixes up pixels shows.
Bytes gray_gradient(int width, int height) {
  Bytes pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      pixels[static_cast<std::size_t>(y * width + x)] = static_cast<std::uint8_t>((x * 13 + y * 7) & 0xFF);
    }
  }
  return pixels;
}

Bytes flat_rgb(int width, int height, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  Bytes pixels;
  pixels.reserve(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  for (int i = 0; i < width * height; ++i) {
    pixels.push_back(r);
    pixels.push_back(g);
    pixels.push_back(b);
  }
  return pixels;
}

Bytes png_of(const Bytes& pixels, int width, int height, int channels) {
  auto png = encode_png(pixels, width, height, channels);
  EXPECT_TRUE(png.is_ok()) << png.status().to_string();
  return png.is_ok() ? std::move(png).value() : Bytes{};
}

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(static_cast<tjhandle>(handle)); }
};
struct TjBufferDeleter {
  void operator()(unsigned char* buffer) const { tjFree(buffer); }
};

// Compresses 8-bit pixels (1 channel: grayscale JPEG, 3: RGB 4:4:4) with TurboJPEG.
Bytes jpeg_of(const Bytes& pixels, int width, int height, int channels, int quality = 95) {
  std::unique_ptr<void, TjDeleter> handle(tjInitCompress());
  EXPECT_NE(handle, nullptr);
  if (!handle) return {};
  unsigned char* raw = nullptr;
  unsigned long size = 0;
  const int format = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int subsampling = channels == 1 ? TJSAMP_GRAY : TJSAMP_444;
  const int rc = tjCompress2(handle.get(), pixels.data(), width, 0, height, format, &raw, &size, subsampling,
                             quality, TJFLAG_ACCURATEDCT);
  std::unique_ptr<unsigned char, TjBufferDeleter> buffer(raw);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(handle.get());
  if (rc != 0) return {};
  return Bytes(buffer.get(), buffer.get() + size);
}

void write_be32(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  bytes[offset + 0] = static_cast<std::uint8_t>(value >> 24);
  bytes[offset + 1] = static_cast<std::uint8_t>(value >> 16);
  bytes[offset + 2] = static_cast<std::uint8_t>(value >> 8);
  bytes[offset + 3] = static_cast<std::uint8_t>(value);
}

// Rewrites the IHDR width and height of a PNG and fixes the chunk's CRC. The IHDR chunk starts at
// offset 8: length (8..11), type (12..15), width (16..19), height (20..23), 5 more data bytes
// (24..28), CRC (29..32) over type and data.
Bytes patch_png_dimensions(Bytes png, std::uint32_t width, std::uint32_t height) {
  EXPECT_GE(png.size(), 33u);
  EXPECT_EQ(std::string(png.begin() + 12, png.begin() + 16), "IHDR");
  write_be32(png, 16, width);
  write_be32(png, 20, height);
  const auto crc = crc32(crc32(0L, Z_NULL, 0), png.data() + 12, 17);
  write_be32(png, 29, static_cast<std::uint32_t>(crc));
  return png;
}

TEST(ImageEncoderTest, RejectsBadArguments) {
  const Bytes pixels(12, 0);
  EXPECT_EQ(encode_png(pixels, 2, 2, 3).status().code(), Code::kOk);
  EXPECT_EQ(encode_png(pixels, 2, 2, 1).status().code(), Code::kInvalidArgument);  // size mismatch
  EXPECT_EQ(encode_png(pixels, 0, 2, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(encode_png(pixels, 2, 2, 4).status().code(), Code::kInvalidArgument);
}

TEST(ImageEncoderTest, ProducesAPngSignature) {
  const Bytes png = png_of(gray_gradient(4, 3), 4, 3, 1);
  ASSERT_GE(png.size(), 8u);
  const Bytes magic = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_TRUE(std::equal(magic.begin(), magic.end(), png.begin()));
}

TEST(ImageDecoderTest, GrayPngRoundTripIsPixelExact) {
  const Bytes pixels = gray_gradient(37, 23);
  const Bytes png = png_of(pixels, 37, 23, 1);
  ImageDecoder decoder;
  DecodedImage image;
  const Status st = decoder.decode(png, 1, image);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(image.width, 37);
  EXPECT_EQ(image.height, 23);
  EXPECT_EQ(image.channels, 1);
  EXPECT_EQ(image.pixels, pixels);
}

TEST(ImageDecoderTest, RgbPngRoundTripIsPixelExact) {
  Bytes pixels;
  for (int i = 0; i < 5 * 4; ++i) {
    pixels.push_back(static_cast<std::uint8_t>(i * 10));
    pixels.push_back(static_cast<std::uint8_t>(255 - i));
    pixels.push_back(static_cast<std::uint8_t>(i * 3));
  }
  const Bytes png = png_of(pixels, 5, 4, 3);
  ImageDecoder decoder;
  DecodedImage image;
  ASSERT_TRUE(decoder.decode(png, 3, image).is_ok());
  EXPECT_EQ(image.width, 5);
  EXPECT_EQ(image.height, 4);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.pixels, pixels);
}

TEST(ImageDecoderTest, RgbPngDecodedToOneChannel) {
  const Bytes png = png_of(flat_rgb(8, 6, 128, 128, 128), 8, 6, 3);
  ImageDecoder decoder;
  DecodedImage image;
  ASSERT_TRUE(decoder.decode(png, 1, image).is_ok());
  EXPECT_EQ(image.width, 8);
  EXPECT_EQ(image.height, 6);
  EXPECT_EQ(image.channels, 1);
  ASSERT_EQ(image.pixels.size(), 8u * 6u);
  // A neutral gray stays (about) the same gray whatever the conversion weights.
  for (std::uint8_t v : image.pixels) EXPECT_NEAR(v, 128, 2);
}

TEST(ImageDecoderTest, GrayPngDecodedToThreeChannels) {
  const Bytes pixels = gray_gradient(3, 2);
  const Bytes png = png_of(pixels, 3, 2, 1);
  ImageDecoder decoder;
  DecodedImage image;
  ASSERT_TRUE(decoder.decode(png, 3, image).is_ok());
  EXPECT_EQ(image.channels, 3);
  ASSERT_EQ(image.pixels.size(), pixels.size() * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    EXPECT_EQ(image.pixels[3 * i], pixels[i]);
    EXPECT_EQ(image.pixels[3 * i + 1], pixels[i]);
    EXPECT_EQ(image.pixels[3 * i + 2], pixels[i]);
  }
}

TEST(ImageDecoderTest, ReusesTheOutputAcrossDecodes) {
  ImageDecoder decoder;
  DecodedImage image;
  ASSERT_TRUE(decoder.decode(png_of(gray_gradient(20, 20), 20, 20, 1), 1, image).is_ok());
  const Bytes small = gray_gradient(3, 2);
  ASSERT_TRUE(decoder.decode(png_of(small, 3, 2, 1), 1, image).is_ok());
  EXPECT_EQ(image.width, 3);
  EXPECT_EQ(image.height, 2);
  EXPECT_EQ(image.pixels, small);
}

TEST(ImageDecoderTest, RgbJpegIsApproximatelyTheFlatSource) {
  const Bytes jpeg = jpeg_of(flat_rgb(32, 16, 200, 100, 50), 32, 16, 3);
  ASSERT_FALSE(jpeg.empty());
  ImageDecoder decoder;
  DecodedImage image;
  const Status st = decoder.decode(jpeg, 3, image);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(image.width, 32);
  EXPECT_EQ(image.height, 16);
  EXPECT_EQ(image.channels, 3);
  ASSERT_EQ(image.pixels.size(), 32u * 16u * 3u);
  for (std::size_t i = 0; i < image.pixels.size(); i += 3) {
    EXPECT_NEAR(image.pixels[i], 200, 4);
    EXPECT_NEAR(image.pixels[i + 1], 100, 4);
    EXPECT_NEAR(image.pixels[i + 2], 50, 4);
  }
}

TEST(ImageDecoderTest, GrayJpegDecodes) {
  const Bytes jpeg = jpeg_of(Bytes(24 * 24, 77), 24, 24, 1);
  ASSERT_FALSE(jpeg.empty());
  ImageDecoder decoder;
  DecodedImage image;
  ASSERT_TRUE(decoder.decode(jpeg, 1, image).is_ok());
  EXPECT_EQ(image.width, 24);
  EXPECT_EQ(image.height, 24);
  EXPECT_EQ(image.channels, 1);
  ASSERT_EQ(image.pixels.size(), 24u * 24u);
  for (std::uint8_t v : image.pixels) EXPECT_NEAR(v, 77, 3);

  // The same grayscale JPEG expanded to RGB.
  ASSERT_TRUE(decoder.decode(jpeg, 3, image).is_ok());
  EXPECT_EQ(image.channels, 3);
  ASSERT_EQ(image.pixels.size(), 24u * 24u * 3u);
  for (std::uint8_t v : image.pixels) EXPECT_NEAR(v, 77, 3);
}

TEST(ImageDecoderTest, RgbJpegDecodedToGray) {
  const Bytes jpeg = jpeg_of(flat_rgb(16, 16, 90, 90, 90), 16, 16, 3);
  ImageDecoder decoder;
  DecodedImage image;
  ASSERT_TRUE(decoder.decode(jpeg, 1, image).is_ok());
  EXPECT_EQ(image.channels, 1);
  ASSERT_EQ(image.pixels.size(), 16u * 16u);
  for (std::uint8_t v : image.pixels) EXPECT_NEAR(v, 90, 4);
}

TEST(ImageDecoderTest, ColourJpegToGrayUsesPillowsFormulaNotLibjpegsLuma) {
  // A colourful JPEG: gray must be Pillow's L24 of the RGB decode (convert('L')), not libjpeg's Y.
  Bytes rgb(64 * 48 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i)
    rgb[i] = static_cast<std::uint8_t>((i * 37 + (i / 3) * 11) & 0xFF);
  const Bytes jpeg = jpeg_of(rgb, 64, 48, 3, 90);
  ImageDecoder decoder;
  DecodedImage colour, gray;
  ASSERT_TRUE(decoder.decode(jpeg, 3, colour).is_ok());
  ASSERT_TRUE(decoder.decode(jpeg, 1, gray).is_ok());
  ASSERT_EQ(gray.pixels.size(), 64u * 48u);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < gray.pixels.size(); ++i) {
    differing += gray.pixels[i] !=
                 pillow_luma(colour.pixels[3 * i], colour.pixels[3 * i + 1], colour.pixels[3 * i + 2]);
  }
  EXPECT_EQ(differing, 0u);
  // libjpeg's own gray output (Y) differs from it somewhere on such an image: the test can tell.
  tjhandle tj = tjInitDecompress();
  Bytes y(64 * 48);
  ASSERT_EQ(tjDecompress2(tj, jpeg.data(), jpeg.size(), y.data(), 64, 0, 48, TJPF_GRAY, 0), 0);
  tjDestroy(tj);
  EXPECT_NE(y, gray.pixels);
}

TEST(ImageDecoderTest, RgbaPngDropsAlphaWithoutCompositing) {
  // Pillow's convert('RGB') of RGBA keeps the colour of fully transparent pixels.
  const Bytes rgba = {200, 100, 50, 0, 10, 20, 30, 128, 1, 2, 3, 255, 255, 255, 255, 0};
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = 2;
  image.height = 2;
  image.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  ASSERT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, rgba.data(), 0, nullptr), 0);
  Bytes png(size);
  ASSERT_NE(png_image_write_to_memory(&image, png.data(), &size, 0, rgba.data(), 0, nullptr), 0);
  png.resize(size);
  ImageDecoder decoder;
  DecodedImage rgb, gray;
  ASSERT_TRUE(decoder.decode(png, 3, rgb).is_ok());
  EXPECT_EQ(rgb.pixels, (Bytes{200, 100, 50, 10, 20, 30, 1, 2, 3, 255, 255, 255}));
  ASSERT_TRUE(decoder.decode(png, 1, gray).is_ok());
  EXPECT_EQ(gray.pixels,
            (Bytes{pillow_luma(200, 100, 50), pillow_luma(10, 20, 30), pillow_luma(1, 2, 3), 255}));
}

TEST(ImageDecoderTest, GarbageIsNeitherJpegNorPng) {
  const Bytes garbage = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  ImageDecoder decoder;
  DecodedImage image;
  const Status st = decoder.decode(garbage, 3, image);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kDecode);
  EXPECT_TRUE(contains(st.message(), "neither JPEG nor PNG")) << st.message();
}

TEST(ImageDecoderTest, EmptyAndTinyPayloadsAreDecodeErrors) {
  ImageDecoder decoder;
  DecodedImage image;
  EXPECT_EQ(decoder.decode(Bytes{}, 1, image).code(), Code::kDecode);
  EXPECT_EQ(decoder.decode(Bytes{0xFF, 0xD8}, 1, image).code(), Code::kDecode);
  EXPECT_EQ(decoder.decode(Bytes{0x89, 'P', 'N', 'G'}, 1, image).code(), Code::kDecode);
}

TEST(ImageDecoderTest, RejectsUnsupportedChannelCounts) {
  const Bytes png = png_of(gray_gradient(2, 2), 2, 2, 1);
  ImageDecoder decoder;
  DecodedImage image;
  EXPECT_EQ(decoder.decode(png, 2, image).code(), Code::kInvalidArgument);
  EXPECT_EQ(decoder.decode(png, 4, image).code(), Code::kInvalidArgument);
}

TEST(ImageDecoderTest, CorruptJpegIsAnError) {
  Bytes corrupt = {0xFF, 0xD8, 0xFF};
  for (int i = 0; i < 200; ++i) corrupt.push_back(static_cast<std::uint8_t>((i * 37 + 11) & 0xFF));
  ImageDecoder decoder;
  DecodedImage image;
  const Status st = decoder.decode(corrupt, 3, image);
  EXPECT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kDecode);
}

TEST(ImageDecoderTest, TruncatedJpegDoesNotCrash) {
  const Bytes jpeg = jpeg_of(flat_rgb(64, 64, 10, 20, 30), 64, 64, 3);
  ASSERT_GT(jpeg.size(), 40u);
  ImageDecoder decoder;
  for (std::size_t keep : {std::size_t{3}, std::size_t{20}, jpeg.size() / 2, jpeg.size() - 2}) {
    SCOPED_TRACE(keep);
    const Bytes truncated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(keep));
    DecodedImage image;
    const Status st = decoder.decode(truncated, 3, image);
    // libjpeg-turbo may treat a missing tail as a warning; either way the result is consistent.
    if (st.is_ok()) {
      EXPECT_EQ(image.pixels.size(), static_cast<std::size_t>(image.width) * image.height * 3);
    } else {
      EXPECT_EQ(st.code(), Code::kDecode);
    }
  }
  // The decoder still works afterwards.
  DecodedImage image;
  EXPECT_TRUE(decoder.decode(jpeg, 3, image).is_ok());
}

TEST(ImageDecoderTest, TruncatedPngIsAnError) {
  const Bytes png = png_of(gray_gradient(32, 32), 32, 32, 1);
  ImageDecoder decoder;
  for (std::size_t keep : {std::size_t{8}, std::size_t{20}, std::size_t{40}, png.size() - 13}) {
    SCOPED_TRACE(keep);
    ASSERT_LT(keep, png.size());
    const Bytes truncated(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(keep));
    DecodedImage image;
    const Status st = decoder.decode(truncated, 1, image);
    EXPECT_FALSE(st.is_ok());
    EXPECT_EQ(st.code(), Code::kDecode) << st.to_string();
  }
}

TEST(ImageDecoderTest, HugePngHeaderHitsThePixelLimit) {
  const Bytes png = patch_png_dimensions(png_of(gray_gradient(4, 4), 4, 4, 1), 100000, 100000);
  ImageDecoder decoder(1u << 20);
  DecodedImage image;
  const Status st = decoder.decode(png, 1, image);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kLimit) << st.to_string();
  EXPECT_TRUE(contains(st.message(), "--max-pixels")) << st.message();
  EXPECT_TRUE(image.pixels.empty());
}

TEST(ImageDecoderTest, ZeroSizedPngHeaderIsAnError) {
  const Bytes png = patch_png_dimensions(png_of(gray_gradient(4, 4), 4, 4, 1), 0, 0);
  ImageDecoder decoder;
  DecodedImage image;
  const Status st = decoder.decode(png, 1, image);
  ASSERT_FALSE(st.is_ok());
  // Either the decoder's own rule or libpng's IHDR validation rejects it.
  if (st.code() == Code::kDecode && !contains(st.message(), "corrupt PNG")) {
    EXPECT_TRUE(contains(st.message(), "> 0")) << st.message();
  }
  EXPECT_EQ(st.code(), Code::kDecode) << st.to_string();
}

TEST(ImageDecoderTest, PixelLimitIsCheckedBeforeDecoding) {
  const Bytes png = png_of(gray_gradient(20, 20), 20, 20, 1);
  ImageDecoder decoder(100);
  DecodedImage image;
  const Status st = decoder.decode(png, 1, image);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kLimit);
  EXPECT_TRUE(contains(st.message(), "--max-pixels")) << st.message();
  EXPECT_TRUE(image.pixels.empty());

  // Exactly at the limit is allowed.
  ImageDecoder exact(400);
  EXPECT_TRUE(exact.decode(png, 1, image).is_ok());
}

TEST(ImageDecoderTest, JpegPixelLimit) {
  const Bytes jpeg = jpeg_of(flat_rgb(20, 20, 1, 2, 3), 20, 20, 3);
  ImageDecoder decoder(399);
  DecodedImage image;
  const Status st = decoder.decode(jpeg, 3, image);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kLimit);
  EXPECT_TRUE(contains(st.message(), "--max-pixels")) << st.message();
}

}  // namespace
}  // namespace sluice::vision
