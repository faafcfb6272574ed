#include "vision/simd_target.h"

#include <hwy/targets.h>

#include <cstdlib>
#include <mutex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vision/resample_kernels.h"

namespace sluice::vision {

std::vector<std::int64_t> available_simd_targets() {
  std::vector<std::int64_t> out;
  const std::int64_t supported = hwy::SupportedTargets() & resample_kernels_compiled_targets();
  // Highway 1.0.3's SupportedTargets() re-chooses the dispatch target from every target the CPU
  // has, ignoring DisableTargets: let the next dispatch choose again, within the cap.
  hwy::GetChosenTarget().DeInit();
  for (std::int64_t bits = supported; bits != 0; bits &= bits - 1) out.push_back(bits & -bits);
  return out;
}

std::int64_t active_simd_target() {
  (void)apply_simd_environment();
  return resample_kernels_target();
}

std::string simd_target_name(std::int64_t target) {
  return hwy::TargetName(target);
}

Result<std::int64_t> parse_simd_target(std::string_view name) {
  if (name == "avx512" || name == "avx3") return static_cast<std::int64_t>(HWY_AVX3);
  if (name == "avx2") return static_cast<std::int64_t>(HWY_AVX2);
  if (name == "sse4") return static_cast<std::int64_t>(HWY_SSE4);
  if (name == "ssse3") return static_cast<std::int64_t>(HWY_SSSE3);
  if (name == "scalar") return static_cast<std::int64_t>(HWY_SCALAR);
  return Status(Code::kInvalidArgument,
                fmt::format("unknown SIMD target '{}' (known: avx512, avx2, sse4, ssse3, scalar)", name));
}

void cap_simd_target(std::int64_t target) {
  // Highway numbers better targets with lower bits: disabling every bit below `target` leaves it
  // (or the best below it) as the choice. Highway re-chooses at the next dispatch.
  hwy::DisableTargets(target == 0 ? 0 : target - 1);
}

Status apply_simd_environment() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    const char* value = std::getenv("SLUICE_SIMD");
    if (value == nullptr || *value == '\0') return;
    auto target = parse_simd_target(value);
    if (!target) {
      status = Status(Code::kInvalidArgument, "SLUICE_SIMD: " + target.status().message());
      spdlog::warn("{}; using the best target the CPU supports", status.message());
      return;
    }
    cap_simd_target(*target);
  });
  return status;
}

}  // namespace sluice::vision
