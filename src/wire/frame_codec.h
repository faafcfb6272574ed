// The seed wire format: a 28-byte NUL-padded name, a 4-byte big-endian signed length, then that
// many payload bytes. Length 0 ends the stream; a negative length or one above the configured
// maximum is a framing error.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice::wire {

inline constexpr std::size_t kNameBytes = 28;
inline constexpr std::size_t kHeaderBytes = kNameBytes + 4;
inline constexpr std::size_t kDefaultMaxFrameBytes = 64u << 20;

/// One decoded record: the name with trailing NULs and spaces stripped, and the payload.
struct WireRecord {
  std::string name;
  std::vector<std::uint8_t> payload;
};

/// Builds the 32-byte header for a record. Fails when `name` is longer than 28 bytes or the
/// payload does not fit a signed 32-bit length.
Result<std::array<std::uint8_t, kHeaderBytes>> encode_header(std::string_view name,
                                                             std::size_t payload_bytes);

/// Appends one whole record (header and payload) to `out`.
Status append_record(std::string_view name, std::span<const std::uint8_t> payload,
                     std::vector<std::uint8_t>& out);

/// The end-of-stream record: an all-NUL name and length 0.
std::array<std::uint8_t, kHeaderBytes> end_of_stream_record();

/// What FrameDecoder::next found.
enum class DecodeEvent {
  kNeedMore,
  kRecord,
  kEndOfStream,
  /// With announce_headers: a header announced a payload of announced_bytes(); the decoder
  /// consumes nothing more until accept_payload() (so the caller can reserve memory first).
  kHeader,
};

/// Incremental, bounded parser. Bytes may arrive split at any boundary, down to one at a time.
/// A length is checked against the limit before any payload memory is reserved, and payload
/// memory grows with the bytes that actually arrive, so a lying header cannot make it allocate.
/// After an error or the end of the stream the decoder consumes nothing more.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

  /// Consumes bytes from the front of `input` until a record is complete, the stream ends, or
  /// `input` is empty. On kRecord, `record` holds the record. A framing error is returned as a
  /// Status whose message names the broken rule.
  Result<DecodeEvent> next(std::span<const std::uint8_t>& input, WireRecord& record);

  /// True while part of a record has been consumed: a stream that closes now was truncated.
  bool mid_record() const { return header_fill_ > 0 || in_payload_; }
  /// Makes next() stop at every header with a payload (kHeader).
  void announce_headers(bool on) { announce_ = on; }
  std::size_t announced_bytes() const { return payload_expected_; }
  /// Lets the announced payload in.
  void accept_payload() { awaiting_accept_ = false; }
  bool finished() const { return finished_; }
  std::size_t max_frame_bytes() const { return max_frame_bytes_; }

 private:
  std::size_t max_frame_bytes_;
  std::array<std::uint8_t, kHeaderBytes> header_{};
  std::size_t header_fill_ = 0;
  bool in_payload_ = false;
  std::size_t payload_expected_ = 0;
  WireRecord pending_;
  bool announce_ = false;
  bool awaiting_accept_ = false;
  bool finished_ = false;
  Status error_;  // the framing error that finished the stream, repeated to later calls
};

/// Strips the trailing NULs and spaces of a raw 28-byte name field.
std::string decode_name(std::span<const std::uint8_t, kNameBytes> field);

}  // namespace sluice::wire
