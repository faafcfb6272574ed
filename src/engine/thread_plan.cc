#include "engine/thread_plan.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace sluice::engine {

ThreadPlan plan_threads(unsigned hardware_threads, int executors, int cores) {
  const int hw = static_cast<int>(std::max(1u, hardware_threads));
  ThreadPlan plan;
  plan.cores = cores > 0 ? cores : 1;
  plan.executors = executors > 0 ? executors : std::max(1, hw / plan.cores);
  if (executors > 0 && cores > 0) {
    plan.reason = "as configured";
  } else {
    // Each executor decodes its frames and then infers them, so with one single-threaded
    // executor per hardware thread one executor's decoding overlaps another's inference, and
    // executors x cores never oversubscribes the machine (measured in BENCHMARKS.md's sweep).
    plan.reason = fmt::format(
        "{} hardware thread(s): one single-threaded executor each, so decoding on one overlaps "
        "inference on another",
        hw);
  }
  return plan;
}

ThreadPlan plan_threads(int executors, int cores) {
  return plan_threads(std::thread::hardware_concurrency(), executors, cores);
}

}  // namespace sluice::engine
