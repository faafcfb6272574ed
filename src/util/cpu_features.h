// CPU features detected at run time (never assumed at build time).
#pragma once

#include <string>

namespace sluice {

struct CpuFeatures {
  std::string model;  // the brand string, "AMD EPYC ..." or "Intel(R) Xeon(R) ..."
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_vnni = false;
  bool avx_vnni = false;
  bool avx512_bf16 = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;
  /// "avx2 avx512f avx512_vnni ..." (those present).
  std::string describe() const;
  /// An 8-bit dot-product instruction (VNNI or AMX): ONNX Runtime's u8s8 kernels need one to
  /// avoid saturating their 16-bit intermediate sums.
  bool int8_dot_product() const { return avx512_vnni || avx_vnni || amx_int8; }
};

/// Reads CPUID once. SLUICE_CPU_DISABLE=avx512_vnni,avx_vnni,... hides features, to reproduce
/// what a smaller CPU would be told (tests use it).
const CpuFeatures& cpu_features();

}  // namespace sluice
