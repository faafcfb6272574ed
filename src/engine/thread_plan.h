// ThreadPlan: how many executors, and threads each, a pipeline runs on this machine.
#pragma once

#include <string>

namespace sluice::engine {

struct ThreadPlan {
  int executors = 1;
  int cores = 1;       // model threads per executor
  std::string reason;  // for the log: why this plan
};

/// The plan for `hardware_threads`, keeping what the caller set (a value > 0).
ThreadPlan plan_threads(unsigned hardware_threads, int executors, int cores);
/// The same for this process's CPUs.
ThreadPlan plan_threads(int executors, int cores);

}  // namespace sluice::engine
