// CPU features detected at run time (never assumed at build time).
#pragma once

#include <string>

namespace sluice {

struct CpuFeatures {
  bool avx512f = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;
  /// "avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8" (those present).
  std::string describe() const;
};

/// Reads CPUID once.
const CpuFeatures& cpu_features();

}  // namespace sluice
