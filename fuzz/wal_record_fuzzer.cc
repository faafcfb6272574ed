// Fuzzes the write-ahead log's record decoder, which reads whatever a crash left on disk.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "store/wal_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> rest(data, size);
  while (!rest.empty()) {
    std::size_t used = 0;
    auto record = sluice::store::decode_wal_record(rest, used);
    if (!record) break;
    if (used == 0 || used > rest.size()) std::abort();
    rest = rest.subspan(used);
  }
  return 0;
}
