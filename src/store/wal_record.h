// The write-ahead log's record format.
//
//   u32 body length | u32 CRC-32 of the body | body
//   body = u8 type, then
//     kFrame: u64 lsn, u64 stream, u64 seq, u8 name length, name bytes, u32 payload length, payload
//     kDone:  u32 count, count x u64 lsn       (frames whose result lines are written)
//     kMediaFrame: u64 lsn, u64 stream, u64 seq, u8 name length, name bytes,
//                  u8 pixel format, u32 width, u32 height, u8 has pts, i64 pts_ms,
//                  u16 origin length, origin bytes, u32 payload length, payload
//                  (raw video frames, and any frame with a pts or an origin; a plain encoded
//                  frame is still written as kFrame, so old logs and old readers agree)
// All integers little-endian. A record whose length or CRC does not check out is a torn write at
// the end of the last segment, or corruption when valid records follow it (see WriteAheadLog).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "sluice/frame.h"
#include "sluice/status.h"

namespace sluice::store {

inline constexpr std::size_t kWalRecordHeaderBytes = 8;
/// The largest payload a frame record holds: the wire format's limit (a signed 32-bit length).
inline constexpr std::uint32_t kWalMaxPayloadBytes = (1u << 31) - 1;
/// The most a frame record's body holds besides its payload: type, lsn, stream, seq, name length
/// and up to 255 name bytes, payload length; for a media frame also pixel format, width, height,
/// has-pts, pts and up to 65535 origin bytes.
inline constexpr std::uint32_t kWalFrameOverheadBytes =
    1 + 3 * 8 + 1 + 255 + 4 + (1 + 4 + 4 + 1 + 8 + 2 + 65535);
/// So that every frame the wire format accepts can be logged and read back.
inline constexpr std::uint32_t kWalMaxBodyBytes = kWalMaxPayloadBytes + kWalFrameOverheadBytes;

enum class WalRecordType : std::uint8_t { kFrame = 1, kDone = 2, kMediaFrame = 3 };

/// A frame as logged: everything needed to process it again after a restart.
struct WalFrame {
  std::uint64_t lsn = 0;
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
  std::string name;
  std::span<const std::uint8_t> payload;  // points into the decoded buffer
  PixelLayout pixels;                     // kMediaFrame only; default: encoded
  std::optional<std::int64_t> pts_ms;
  std::string origin;
};

struct WalDone {
  std::vector<std::uint64_t> lsns;
};

/// Appends one frame record to `out`.
void append_frame_record(const Frame& frame, std::uint64_t lsn, std::vector<std::uint8_t>& out);
/// Appends one done record to `out`.
void append_done_record(std::span<const std::uint64_t> lsns, std::vector<std::uint8_t>& out);

/// Decodes the record at the front of `bytes`. Returns the record and sets `consumed`; fails with
/// kFraming when the bytes are incomplete, corrupt or not a record.
Result<std::variant<WalFrame, WalDone>> decode_wal_record(std::span<const std::uint8_t> bytes,
                                                          std::size_t& consumed);

}  // namespace sluice::store
