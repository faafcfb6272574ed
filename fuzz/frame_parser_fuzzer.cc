// Fuzzes the incremental frame parser: the input is split into chunks whose sizes come from the
// input itself, so every read boundary is explored. Invariants checked: the decoder never
// consumes more than it is given, a record's payload never exceeds the limit, and after an end
// or an error it consumes nothing more.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "wire/frame_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_frame = 1 + data[0] * 64u;  // small limits reach the size rule often
  const std::size_t chunk = 1 + data[1] % 97;
  sluice::wire::FrameDecoder decoder(max_frame);
  sluice::wire::WireRecord record;
  std::span<const std::uint8_t> rest(data + 2, size - 2);
  bool done = false;
  while (!rest.empty()) {
    const std::size_t n = std::min(chunk, rest.size());
    std::span<const std::uint8_t> piece = rest.first(n);
    rest = rest.subspan(n);
    while (!piece.empty()) {
      const std::size_t before = piece.size();
      auto event = decoder.next(piece, record);
      if (piece.size() > before) std::abort();
      if (done && piece.size() != before) std::abort();  // consumed after the end
      if (!event || *event == sluice::wire::DecodeEvent::kEndOfStream) {
        done = true;
        break;
      }
      if (*event == sluice::wire::DecodeEvent::kRecord && record.payload.size() > max_frame) std::abort();
      if (*event == sluice::wire::DecodeEvent::kNeedMore) break;
    }
  }
  return 0;
}
