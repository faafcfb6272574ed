#include "engine/resident_budget.h"

#include <fmt/format.h>

namespace sluice::engine {

Result<std::uint64_t> data_budget_within(std::uint64_t resident_bound, std::uint64_t resident_now) {
  constexpr std::uint64_t kMinimum = 32ull << 20;
  if (resident_now + kMinimum > resident_bound) {
    return Status(
        Code::kInvalidArgument,
        fmt::format(
            "a memory budget of {} MiB is too small: the process holds {} MiB once the models are "
            "loaded and have run a full batch; give at least {} MiB (or a smaller max batch, or fewer "
            "executors: the runtime's working memory grows with both)",
            resident_bound >> 20, resident_now >> 20, (resident_now + kMinimum) >> 20));
  }
  return (resident_bound - resident_now) / 4 * 3;
}

}  // namespace sluice::engine
