// The process's resident memory, for process_resident_memory_bytes.
#pragma once

#include <cstdint>
#include <optional>

namespace sluice::observe {

/// Resident set size in bytes, from /proc/self/statm; nullopt where that cannot be read.
std::optional<std::uint64_t> resident_memory_bytes();

}  // namespace sluice::observe
