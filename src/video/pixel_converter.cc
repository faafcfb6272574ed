#include "video/pixel_converter.h"

#include <fmt/format.h>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace sluice::video {
namespace {

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

Status PixelConverter::convert(const AVFrame& frame, std::vector<std::uint8_t>& out) {
  bool full_range = frame.color_range == AVCOL_RANGE_JPEG;
  const auto src_format = plain_format(static_cast<AVPixelFormat>(frame.format), full_range);
  const AVPixelFormat dst_format = format_ == PixelFormat::kGray8 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  const int channels = format_ == PixelFormat::kGray8 ? 1 : 3;
  // No scaling happens here (same size in and out), so the flag only picks the chroma
  // upsampling; SWS_ACCURATE_RND keeps the conversion exact to within one level.
  sws_.reset(sws_getCachedContext(sws_.release(), frame.width, frame.height, src_format, frame.width,
                                  frame.height, dst_format, SWS_BILINEAR | SWS_ACCURATE_RND, nullptr, nullptr,
                                  nullptr));
  if (!sws_) {
    return Status(Code::kDecode, fmt::format("libswscale cannot convert {} {}x{} pictures to {}",
                                             av_get_pix_fmt_name(src_format), frame.width, frame.height,
                                             av_get_pix_fmt_name(dst_format)));
  }
  const int* coefficients = sws_getCoefficients(sws_colorspace(frame.colorspace));
  sws_setColorspaceDetails(sws_.get(), coefficients, full_range ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT),
                           1, 0, 1 << 16, 1 << 16);
  const std::size_t stride = static_cast<std::size_t>(frame.width) * static_cast<std::size_t>(channels);
  out.resize(stride * static_cast<std::size_t>(frame.height));
  std::uint8_t* dst[4] = {out.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {static_cast<int>(stride), 0, 0, 0};
  const int rows = sws_scale(sws_.get(), frame.data, frame.linesize, 0, frame.height, dst, dst_stride);
  if (rows != frame.height) {
    return Status(Code::kDecode, fmt::format("libswscale converted {} of {} rows", rows, frame.height));
  }
  return Status::ok();
}

}  // namespace sluice::video
