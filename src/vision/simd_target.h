// Which SIMD target the preprocessing kernels run on. They are compiled for every x86-64 target
// Highway has (scalar, SSSE3, SSE4, AVX2, AVX-512) and dispatch at run time to the best the CPU
// supports. SLUICE_SIMD=avx512|avx2|sse4|ssse3|scalar caps that choice for the whole process
// (read at the first preprocessing call), to measure or test a narrower target on a wider CPU.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice::vision {

/// The targets compiled in that this CPU supports, best first (Highway's HWY_* bits).
std::vector<std::int64_t> available_simd_targets();

/// The target the kernels use now.
std::int64_t active_simd_target();

/// "AVX3" (AVX-512), "AVX2", "SSE4", "SSSE3", "SCALAR".
std::string simd_target_name(std::int64_t target);

/// Parses a SLUICE_SIMD value ("avx512" or "avx3", "avx2", "sse4", "ssse3", "scalar").
Result<std::int64_t> parse_simd_target(std::string_view name);

/// Caps dispatch at `target`: it is used when the CPU supports it, else the best one below it.
/// 0 lifts the cap. Call it while no thread is preprocessing (start-up, tests).
void cap_simd_target(std::int64_t target);

/// Applies SLUICE_SIMD once per process (no-op when unset); an unknown value is an error that
/// lists the known ones, and leaves dispatch uncapped.
Status apply_simd_environment();

}  // namespace sluice::vision
