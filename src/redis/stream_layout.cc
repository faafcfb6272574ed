#include "redis/stream_layout.h"

#include <fmt/format.h>

namespace sluice::redis {

int StreamLayout::partition_of(std::uint64_t stream) const {
  // splitmix64's finalizer: every input bit moves every output bit.
  std::uint64_t z = stream + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<int>(z % static_cast<std::uint64_t>(partitions));
}

Status StreamLayout::validate() const {
  if (partitions < 1 || partitions > 1024) {
    return Status(Code::kInvalidArgument, fmt::format("--partitions {} must be in 1..1024", partitions));
  }
  if (frames_prefix.empty() || results_prefix.empty() || dead_prefix.empty()) {
    return Status(Code::kInvalidArgument, "stream prefixes must not be empty");
  }
  if (frames_prefix == results_prefix || frames_prefix == dead_prefix || results_prefix == dead_prefix) {
    return Status(Code::kInvalidArgument, "--frames-prefix, --results-prefix and --dead-prefix must differ");
  }
  return Status::ok();
}

}  // namespace sluice::redis
