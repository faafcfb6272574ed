// Fuzzes the write-ahead log's record decoder, which reads whatever a crash left on disk: frame
// records (encoded images), media frame records (raw video pixels, pts, origin) and done records.
// Every frame record that decodes must encode back to a record that decodes to the same frame.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

#include "store/wal_record.h"

namespace {

void check_round_trip(const sluice::store::WalFrame& f) {
  sluice::Frame frame;
  frame.stream = f.stream;
  frame.seq = f.seq;
  frame.name = f.name;
  frame.payload = sluice::Payload(std::vector<std::uint8_t>(f.payload.begin(), f.payload.end()));
  frame.pixels = f.pixels;
  frame.pts_ms = f.pts_ms;
  if (!f.origin.empty()) frame.origin = std::make_shared<const std::string>(f.origin);
  std::vector<std::uint8_t> bytes;
  sluice::store::append_frame_record(frame, f.lsn, bytes);
  std::size_t used = 0;
  auto again = sluice::store::decode_wal_record(bytes, used);
  if (!again || used != bytes.size()) std::abort();
  const auto* g = std::get_if<sluice::store::WalFrame>(&*again);
  if (g == nullptr || g->lsn != f.lsn || g->stream != f.stream || g->seq != f.seq || g->name != f.name ||
      !(g->pixels == f.pixels) || g->pts_ms != f.pts_ms || g->origin != f.origin ||
      g->payload.size() != f.payload.size()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> rest(data, size);
  while (!rest.empty()) {
    std::size_t used = 0;
    auto record = sluice::store::decode_wal_record(rest, used);
    if (!record) break;
    if (used == 0 || used > rest.size()) std::abort();
    if (const auto* f = std::get_if<sluice::store::WalFrame>(&*record)) check_round_trip(*f);
    rest = rest.subspan(used);
  }
  return 0;
}
