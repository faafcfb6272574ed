// The one builder of wire records for tests (28-byte name, 4-byte big-endian length, payload),
// the small images they carry, and a raw loopback sender.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace sluice::test {

using Bytes = std::vector<std::uint8_t>;

/// One record: `name` (at most 28 bytes) and `payload`.
Bytes wire_record(const std::string& name, std::span<const std::uint8_t> payload);
/// A header whose length field is `length` as written (0xFFFFFFFF is -1), with no payload: for
/// negative and oversize lengths.
Bytes wire_header(std::uint32_t length);
/// The end-of-stream record (length 0).
Bytes end_of_stream();
/// A size x size grey PNG of one shade (Fashion-MNIST's format).
Bytes grey_png(std::uint8_t shade, int size = 28);
/// A w x h mid-grey JPEG (colour, 4:2:0).
Bytes grey_jpeg(int width, int height);
/// A record carrying grey_png(shade): the frame most tests send.
Bytes make_frame(const std::string& name, std::uint8_t shade);
/// The parts one after the other.
Bytes concat(std::initializer_list<Bytes> parts);
/// Connects to 127.0.0.1:port, writes `bytes` and closes; false (with the reason on stderr) when
/// the connection or the write fails.
bool send_and_close(std::uint16_t port, std::span<const std::uint8_t> bytes);

}  // namespace sluice::test
