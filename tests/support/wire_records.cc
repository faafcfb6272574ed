#include "support/wire_records.h"

#include <turbojpeg.h>

#include <chrono>
#include <cstdio>

#include "net/socket.h"
#include "vision/image_encoder.h"
#include "wire/frame_codec.h"

namespace sluice::test {

Bytes wire_record(const std::string& name, std::span<const std::uint8_t> payload) {
  Bytes out;
  if (!wire::append_record(name, payload, out))
    std::fprintf(stderr, "wire_record: '%s' is too long\n", name.c_str());
  return out;
}

Bytes wire_header(std::uint32_t length) {
  Bytes header(wire::kHeaderBytes, 0);
  for (std::size_t i = 0; i < 4; ++i)
    header[wire::kHeaderBytes - 4 + i] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
  return header;
}

Bytes end_of_stream() {
  const auto eos = wire::end_of_stream_record();
  return Bytes(eos.begin(), eos.end());
}

Bytes grey_png(std::uint8_t shade, int size) {
  const std::vector<std::uint8_t> pixels(static_cast<std::size_t>(size * size), shade);
  auto png = vision::encode_png(pixels, size, size, 1);
  return png ? *png : Bytes{};
}

Bytes grey_jpeg(int width, int height) {
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height * 3), 128);
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  tjCompress2(tj, pixels.data(), width, 0, height, TJPF_RGB, &buf, &size, TJSAMP_420, 90, 0);
  Bytes out(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

Bytes make_frame(const std::string& name, std::uint8_t shade) {
  return wire_record(name, grey_png(shade));
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

bool send_and_close(std::uint16_t port, std::span<const std::uint8_t> bytes) {
  auto fd = net::connect_tcp({"127.0.0.1", port}, std::chrono::milliseconds(5000));
  if (!fd) {
    std::fprintf(stderr, "send_and_close: %s\n", fd.status().to_string().c_str());
    return false;
  }
  return static_cast<bool>(net::write_all(fd->get(), bytes));
}

}  // namespace sluice::test
