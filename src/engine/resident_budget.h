// How much data in flight fits under a bound on the process's resident memory.
#pragma once

#include <cstdint>

#include "sluice/status.h"

namespace sluice::engine {

/// The bytes of data in flight (PipelineConfig::memory_budget) that keep resident memory within
/// `resident_bound`, given what the process holds now (code, libraries, loaded models): three
/// quarters of the rest. The last quarter is left for what the count does not see: allocator
/// slack, thread stacks, block and batch bookkeeping. Fails when less than 32 MiB would be left.
Result<std::uint64_t> data_budget_within(std::uint64_t resident_bound, std::uint64_t resident_now);

}  // namespace sluice::engine
