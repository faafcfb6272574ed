#include "video/pixel_converter.h"

#include <fmt/format.h>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace sluice::video {
namespace {

constexpr std::size_t kSlackBytes = 256;

// The deprecated "J" formats are their plain twins in full range; swscale wants the twin and
// the range said separately.
AVPixelFormat plain_format(AVPixelFormat format, bool& full_range) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
      full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return format;
  }
}

int sws_colorspace(AVColorSpace space) {
  switch (space) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_FCC:
      return SWS_CS_FCC;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return SWS_CS_BT2020;
    default:
      return SWS_CS_ITU601;
  }
}

}  // namespace

Status PixelConverter::convert(const AVFrame& frame, int width, int height, std::vector<std::uint8_t>& out) {
  bool full_range = frame.color_range == AVCOL_RANGE_JPEG;
  const auto src_format = plain_format(static_cast<AVPixelFormat>(frame.format), full_range);
  const AVPixelFormat dst_format = format_ == PixelFormat::kGray8 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  const int channels = format_ == PixelFormat::kGray8 ? 1 : 3;
  // Same size in and out (the preprocessing resizes exactly afterwards): plain SWS_BILINEAR takes
  // swscale's SIMD path, 0.9 ms for a 1080p picture and within 1.0 grey level (mean) of a float
  // BT.601 reference; SWS_ACCURATE_RND took 6.9 ms and was no closer, SWS_FULL_CHR_H_INT 10 ms for
  // 0.4 (bench/video.sh's machine). Prescaling (1/2 to 1/8) averages areas: of the filters tried it
  // came closest to the exact full-size path (0.8 grey levels mean on 1080p at 1/2).
  const bool scaling = width != frame.width || height != frame.height;
  sws_.reset(sws_getCachedContext(sws_.release(), frame.width, frame.height, src_format, width, height,
                                  dst_format, scaling ? SWS_AREA : SWS_BILINEAR, nullptr, nullptr, nullptr));
  if (!sws_) {
    return Status(Code::kDecode, fmt::format("libswscale cannot convert {} {}x{} pictures to {} {}x{}",
                                             av_get_pix_fmt_name(src_format), frame.width, frame.height,
                                             av_get_pix_fmt_name(dst_format), width, height));
  }
  const int* coefficients = sws_getCoefficients(sws_colorspace(frame.colorspace));
  sws_setColorspaceDetails(sws_.get(), coefficients, full_range ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT),
                           1, 0, 1 << 16, 1 << 16);
  const std::size_t stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  const std::size_t bytes = stride * static_cast<std::size_t>(height);
  // swscale's SIMD converters write whole blocks of pixels, past the end of a row: into the next
  // row (written again after) and, for the last row, into this slack, kept in the capacity.
  out.resize(bytes + stride + kSlackBytes);
  std::uint8_t* dst[4] = {out.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {static_cast<int>(stride), 0, 0, 0};
  const int rows = sws_scale(sws_.get(), frame.data, frame.linesize, 0, frame.height, dst, dst_stride);
  out.resize(bytes);
  if (rows != height) {
    return Status(Code::kDecode, fmt::format("libswscale converted {} of {} rows", rows, height));
  }
  return Status::ok();
}

}  // namespace sluice::video
