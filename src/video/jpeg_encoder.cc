#include "video/jpeg_encoder.h"

#include <turbojpeg.h>

#include <fmt/format.h>

namespace sluice::video {

struct JpegEncoder::Handle {
  tjhandle handle = tjInitCompress();
  ~Handle() {
    if (handle != nullptr) tjDestroy(handle);
  }
};

JpegEncoder::JpegEncoder(int quality) : quality_(quality), handle_(std::make_unique<Handle>()) {}

JpegEncoder::~JpegEncoder() = default;

Status JpegEncoder::encode(std::span<const std::uint8_t> pixels, int width, int height, int channels,
                           std::vector<std::uint8_t>& out) {
  if (handle_->handle == nullptr) return Status(Code::kInternal, "libjpeg-turbo could not be initialised");
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) ||
      pixels.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
                           static_cast<std::size_t>(channels)) {
    return Status(Code::kInvalidArgument, fmt::format("cannot encode {}x{}x{} from {} bytes", width, height,
                                                      channels, pixels.size()));
  }
  const int subsampling = channels == 1 ? TJSAMP_GRAY : TJSAMP_420;
  out.resize(tjBufSize(width, height, subsampling));
  unsigned char* buffer = out.data();
  unsigned long size = static_cast<unsigned long>(out.size());
  // NOREALLOC: TurboJPEG writes into `out`, which tjBufSize made large enough for any picture.
  if (tjCompress2(handle_->handle, pixels.data(), width, 0, height, channels == 1 ? TJPF_GRAY : TJPF_RGB,
                  &buffer, &size, subsampling, quality_, TJFLAG_NOREALLOC) != 0) {
    return Status(Code::kInternal, fmt::format("JPEG encoding failed: {}", tjGetErrorStr2(handle_->handle)));
  }
  out.resize(size);
  return Status::ok();
}

bool is_complete_jpeg(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;
  std::size_t pos = 2;
  while (pos + 4 <= bytes.size()) {
    if (bytes[pos] != 0xFF) return false;
    const std::uint8_t marker = bytes[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xC4) return true;   // DHT
    if (marker == 0xDA) return false;  // SOS before any DHT
    const std::size_t length = (static_cast<std::size_t>(bytes[pos + 2]) << 8) | bytes[pos + 3];
    if (length < 2) return false;
    pos += 2 + length;
  }
  return false;
}

}  // namespace sluice::video
