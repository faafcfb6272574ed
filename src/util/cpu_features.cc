#include "util/cpu_features.h"

#include <cpuid.h>

namespace sluice {

std::string CpuFeatures::describe() const {
  std::string out;
  auto add = [&](bool present, const char* name) {
    if (!present) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(avx512f, "avx512f");
  add(avx512_vnni, "avx512_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(amx_bf16, "amx_bf16");
  add(amx_int8, "amx_int8");
  return out.empty() ? std::string("none of avx512/amx") : out;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
      f.avx512f = (ebx >> 16) & 1;
      f.avx512_vnni = (ecx >> 11) & 1;
      f.amx_bf16 = (edx >> 22) & 1;
      f.amx_int8 = (edx >> 25) & 1;
    }
    if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx512_bf16 = (eax >> 5) & 1;
    return f;
  }();
  return features;
}

}  // namespace sluice
