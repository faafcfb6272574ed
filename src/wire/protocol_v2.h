// Protocol v2: an optional extension of the seed format that adds acknowledgements.
//
// A producer opts in by making its FIRST record a hello: name "sluice/hello", payload a JSON
// object {"v":2,"stream":S,"seq":Q}. S is the producer's stream id (kept across reconnects, so a
// re-sent frame has the same (stream, seq)); Q is the seq of the next frame it sends. Producer
// stream ids must be >= 2^32: smaller ids are the server's own numbering of plain connections.
// The server then sends records back on the same connection: name "sluice/ack", 8-byte payload,
// big-endian N = every frame of this stream with seq < N is stored (in the WAL when it is on).
// The hello may also carry "token":"..." (a string of at most 1024 bytes): the producer's
// credential when the server checks identities (sluice serve --tokens).
// A seed producer never sends a hello, and receives nothing: it works byte for byte as before.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"
#include "wire/frame_codec.h"

namespace sluice::wire {

inline constexpr std::string_view kHelloName = "sluice/hello";
inline constexpr std::string_view kAckName = "sluice/ack";
inline constexpr std::uint64_t kMinProducerStreamId = 1ull << 32;

inline constexpr std::size_t kMaxTokenBytes = 1024;

struct Hello {
  std::uint64_t stream = 0;
  std::uint64_t next_seq = 0;
  std::string token{};  // empty: none (the field is left out of the payload)
};

/// The payload of a hello record.
std::vector<std::uint8_t> encode_hello(const Hello& hello);
/// Parses a hello payload; the error names what is wrong.
Result<Hello> parse_hello(std::span<const std::uint8_t> payload);

/// A whole ack record (header and payload): 40 bytes.
std::array<std::uint8_t, kHeaderBytes + 8> encode_ack(std::uint64_t next_seq);
/// Parses an ack record's payload.
Result<std::uint64_t> parse_ack(std::span<const std::uint8_t> payload);

}  // namespace sluice::wire
