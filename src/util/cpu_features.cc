#include "util/cpu_features.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace sluice {
namespace {

std::string brand_string() {
  unsigned regs[12] = {};
  unsigned max = __get_cpuid_max(0x80000000, nullptr);
  if (max < 0x80000004) return "unknown CPU";
  for (unsigned i = 0; i < 3; ++i) {
    __get_cpuid(0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  }
  char text[49] = {};
  std::memcpy(text, regs, 48);
  std::string out(text);
  const auto b = out.find_first_not_of(' ');
  return b == std::string::npos ? std::string("unknown CPU")
                                : out.substr(b, out.find_last_not_of(' ') - b + 1);
}

}  // namespace

std::string CpuFeatures::describe() const {
  std::string out;
  auto add = [&](bool present, const char* name) {
    if (!present) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(avx2, "avx2");
  add(avx512f, "avx512f");
  add(avx512_vnni, "avx512_vnni");
  add(avx_vnni, "avx_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(amx_bf16, "amx_bf16");
  add(amx_int8, "amx_int8");
  return out.empty() ? std::string("none of avx2/avx512/amx") : out;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    f.model = brand_string();
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
      f.avx2 = (ebx >> 5) & 1;
      f.avx512f = (ebx >> 16) & 1;
      f.avx512_vnni = (ecx >> 11) & 1;
      f.amx_bf16 = (edx >> 22) & 1;
      f.amx_int8 = (edx >> 25) & 1;
    }
    if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
      f.avx_vnni = (eax >> 4) & 1;
      f.avx512_bf16 = (eax >> 5) & 1;
    }
    if (const char* hidden = std::getenv("SLUICE_CPU_DISABLE")) {
      std::stringstream list(hidden);
      std::string name;
      while (std::getline(list, name, ',')) {
        if (name == "avx2") f.avx2 = false;
        if (name == "avx512f") f.avx512f = false;
        if (name == "avx512_vnni") f.avx512_vnni = false;
        if (name == "avx_vnni") f.avx_vnni = false;
        if (name == "avx512_bf16") f.avx512_bf16 = false;
        if (name == "amx_bf16") f.amx_bf16 = false;
        if (name == "amx_int8") f.amx_int8 = false;
      }
    }
    return f;
  }();
  return features;
}

}  // namespace sluice
