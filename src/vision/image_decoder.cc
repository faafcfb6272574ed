#include "vision/image_decoder.h"

#include <turbojpeg.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "vision/image_probe.h"
#include "vision/pillow_convert.h"

namespace sluice::vision {
namespace {

// libjpeg-turbo's own buffers for a width x height frame of `components`: the whole image's DCT
// coefficients when it keeps them (a progressive or multi-scan frame: 64 coefficients of 2 bytes
// per 8x8 block, blocks padded to an MCU of up to 4x4 blocks), its row buffers (context rows and
// upsampling, at most 64 rows per component at the full width), TurboJPEG's row pointers, and a
// fixed part for tables, the Huffman state and pool headers.
std::uint64_t libjpeg_buffer_bytes(int width, int height, int components, bool whole_image, int out_height) {
  constexpr std::uint64_t kFixed = 1u << 20;
  const auto w = static_cast<std::uint64_t>(width), h = static_cast<std::uint64_t>(height);
  const auto c = static_cast<std::uint64_t>(components);
  std::uint64_t bytes = kFixed + c * (w + 64) * 64 + static_cast<std::uint64_t>(out_height) * sizeof(void*);
  if (whole_image) bytes += c * ((w + 7) / 8 + 4) * ((h + 7) / 8 + 4) * 64 * 2;
  return bytes;
}

// The components libjpeg holds for a frame TurboJPEG reports in `colorspace`; the probe's count
// when it read the same frame (libjpeg allows up to 10).
int jpeg_components(int colorspace, const std::optional<ImageSize>& header, int width, int height) {
  int components = colorspace == TJCS_GRAY ? 1 : (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) ? 4 : 3;
  if (header && static_cast<int>(header->width) == width && static_cast<int>(header->height) == height) {
    components = std::max(components, std::min(header->components, 10));
  } else {
    components = 10;
  }
  return components;
}

}  // namespace

struct ImageDecoder::TurboHandle {
  tjhandle handle = tjInitDecompress();
  ~TurboHandle() {
    if (handle != nullptr) tjDestroy(handle);
  }
};

ImageDecoder::ImageDecoder(std::uint64_t max_pixels)
    : max_pixels_(max_pixels), turbo_(std::make_unique<TurboHandle>()) {}

ImageDecoder::~ImageDecoder() = default;

Status check_image_dimensions(std::int64_t width, std::int64_t height, std::uint64_t max_pixels) {
  if (width <= 0 || height <= 0) {
    return Status(
        Code::kDecode,
        fmt::format("image header claims {}x{} pixels (rule: both sides must be > 0)", width, height));
  }
  if (width > INT_MAX || height > INT_MAX) {
    return Status(Code::kLimit, fmt::format("image header claims {}x{} pixels (rule: each side must be "
                                            "below 2^31, and --max-pixels bounds their product)",
                                            width, height));
  }
  const auto pixels = static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
  if (pixels > max_pixels) {
    return Status(Code::kLimit,
                  fmt::format("image is {}x{} = {} pixels, above the limit of {} (rule: --max-pixels)", width,
                              height, pixels, max_pixels));
  }
  return Status::ok();
}

Status ImageDecoder::decode(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out,
                            DecodeAdmission* admission) {
  last_buffer_bytes_ = 0;
  if (channels != 1 && channels != 3) {
    return Status(Code::kInvalidArgument, fmt::format("cannot decode to {} channels", channels));
  }
  // The header's claim, checked before the codec library reads it: the library's own refusal of a
  // 0 or huge side would not name the rule.
  if (const auto header = probe_image(bytes)) {
    if (auto st = check_image_dimensions(header->width, header->height, max_pixels_); !st) return st;
  }
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    return decode_jpeg(bytes, channels, out, admission);
  }
  static constexpr std::uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) {
    auto st = png_.decode(bytes, channels, max_pixels_, out, admission);
    last_buffer_bytes_ = png_.last_buffer_bytes();
    return st;
  }
  return Status(
      Code::kDecode,
      fmt::format("payload of {} bytes is neither JPEG nor PNG (unknown magic bytes)", bytes.size()));
}

Status ImageDecoder::decode_jpeg(std::span<const std::uint8_t> bytes, int channels, DecodedImage& out,
                                 DecodeAdmission* admission) {
  if (turbo_->handle == nullptr) return Status(Code::kInternal, "libjpeg-turbo could not be initialised");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  // The TurboJPEG API takes a non-const pointer but does not write through it.
  auto* data = const_cast<unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  if (tjDecompressHeader3(turbo_->handle, data, size, &width, &height, &subsampling, &colorspace) != 0) {
    return Status(Code::kDecode, fmt::format("corrupt JPEG header: {}", tjGetErrorStr2(turbo_->handle)));
  }
  if (auto st = check_image_dimensions(width, height, max_pixels_); !st) return st;
  // DCT-domain scaling: the smallest factor <= 1/2 whose output is still at least twice the resize
  // target, so the antialiased resize that follows does real filtering. Scaling straight down to
  // the target is not accurate enough: on eagle.jpg it took MobileNetV2's top-1 score from 0.815 to
  // 0.576, and it changed horses.jpg's top-1.
  int out_width = width, out_height = height;
  if (scaling_target_ != nullptr) {
    const auto [need_w, need_h] = resize_target(*scaling_target_, width, height);
    int count = 0;
    const tjscalingfactor* factors = tjGetScalingFactors(&count);
    for (int i = 0; i < count; ++i) {
      const auto f = factors[i];
      if (f.num * 2 > f.denom) continue;  // only when the target is at most half the image
      const int w = TJSCALED(width, f), h = TJSCALED(height, f);
      if (w >= 2 * need_w && h >= 2 * need_h &&
          static_cast<long long>(w) * h < static_cast<long long>(out_width) * out_height) {
        out_width = w;
        out_height = h;
      }
    }
  }
  // What libjpeg-turbo decodes to: Pillow opens a gray JPEG as L, a YCbCr or RGB one as RGB and a
  // CMYK or YCCK one as CMYK, then converts. Only gray -> L and colour -> RGB need no conversion.
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const bool gray = colorspace == TJCS_GRAY;
  int format = TJPF_RGB;
  if (cmyk) {
    format = TJPF_CMYK;
  } else if (gray && channels == 1) {
    format = TJPF_GRAY;
  }
  const int decoded_channels = tjPixelSize[format];
  const auto pixels = static_cast<std::size_t>(out_width) * static_cast<std::size_t>(out_height);
  const std::size_t converted_bytes =
      decoded_channels != channels ? pixels * static_cast<std::size_t>(decoded_channels) : 0;
  const std::size_t out_bytes = pixels * static_cast<std::size_t>(channels);
  if (admission != nullptr) {
    const auto header = probe_image(bytes);
    const bool whole_image = !header || header->jpeg_whole_image_coefficients ||
                             static_cast<int>(header->width) != width ||
                             static_cast<int>(header->height) != height;
    const std::uint64_t library = libjpeg_buffer_bytes(
        width, height, jpeg_components(colorspace, header, width, height), whole_image, out_height);
    if (auto st = admission->admit({out_width, out_height, out_bytes + converted_bytes + library}); !st) {
      return st;
    }
  }
  out.width = out_width;
  out.height = out_height;
  out.channels = channels;
  out.pixels.resize(out_bytes);
  std::uint8_t* target = out.pixels.data();
  if (converted_bytes > 0) {
    converted_.resize(converted_bytes);
    target = converted_.data();
  }
  last_buffer_bytes_ = out_bytes + converted_bytes;
  // The accurate integer DCT and fancy upsampling, as Pillow decodes; a progressive JPEG of more
  // than 500 scans (a CPU bomb: each scan walks the whole coefficient buffer) is refused.
  if (tjDecompress2(turbo_->handle, data, size, target, out_width, 0, out_height, format,
                    TJFLAG_LIMITSCANS) != 0 &&
      tjGetErrorCode(turbo_->handle) == TJERR_FATAL) {
    return Status(Code::kDecode, fmt::format("corrupt JPEG data: {}", tjGetErrorStr2(turbo_->handle)));
  }
  if (target == out.pixels.data()) return Status::ok();
  if (cmyk && channels == 3) {
    pillow_inverted_cmyk_to_rgb(converted_.data(), pixels, out.pixels.data());
  } else if (cmyk) {  // Pillow converts CMYK to L through RGB
    for (std::size_t i = 0; i < pixels; ++i) {
      std::uint8_t rgb[3];
      pillow_inverted_cmyk_to_rgb(converted_.data() + 4 * i, 1, rgb);
      out.pixels[i] = pillow_luma(rgb[0], rgb[1], rgb[2]);
    }
  } else if (channels == 1) {
    pillow_rgb_to_luma(converted_.data(), 3, pixels, out.pixels.data());
  }
  return Status::ok();
}

}  // namespace sluice::vision
