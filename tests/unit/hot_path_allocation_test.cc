// "No per-frame heap allocation on the hot path": counts the heap allocations (malloc, calloc,
// realloc; operator new calls malloc) that the executor's thread makes while it decodes,
// preprocesses, infers and writes the results of one task, on a warmed-up executor. Each is
// attributed to the code that asked for it: sluice's own (this executable) or a library (libpng,
// libjpeg-turbo, ONNX Runtime). sluice's own code must allocate nothing per frame: a task of 64
// frames no more than a task of 8. What the libraries allocate inside their own calls is
// measured and reported (see the test's properties), not asserted: sluice cannot change it.
//
// The counting replaces malloc for this test binary only, so it is not built under sanitizers
// (which replace malloc themselves).
#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/batch_run.h"
#include "engine/executor.h"
#include "engine/memory_budget.h"
#include "model/model_bundle.h"
#include "observe/pipeline_metrics.h"
#include "producer/frame_set.h"
#include "sink/sink.h"
#include "support/test_env.h"

extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);

namespace {

// Per thread: only the thread that runs the task counts. Fixed-size, so counting never allocates.
struct Counts {
  bool on = false;
  bool inside = false;  // re-entry guard: backtrace() may allocate the first time
  std::size_t own = 0;  // asked for by sluice's code (this executable)
  std::size_t library = 0;
  std::size_t unknown = 0;
};
thread_local Counts counts;

__attribute__((noinline)) void count_allocation();

// Where this executable (and so sluice's code, linked in statically) is mapped.
const void* const kMainBase = [] {
  Dl_info info{};
  dladdr(reinterpret_cast<const void*>(&count_allocation), &info);
  return info.dli_fbase;
}();

void count_allocation() {
  if (!counts.on || counts.inside) return;
  counts.inside = true;
  void* frames[8];
  const int n = backtrace(frames, 8);
  bool attributed = false;
  // frames[0] is this function, frames[1] the malloc that called it; from frames[2] on, skip
  // operator new (libstdc++): the next frame is the code that asked.
  for (int i = 2; i < n && !attributed; ++i) {
    Dl_info info{};
    if (dladdr(frames[i], &info) == 0) continue;
    if (info.dli_fname != nullptr && std::strstr(info.dli_fname, "libstdc++") != nullptr) continue;
    (info.dli_fbase == kMainBase ? counts.own : counts.library) += 1;
    attributed = true;
  }
  if (!attributed) ++counts.unknown;
  counts.inside = false;
}

}  // namespace

extern "C" void* malloc(std::size_t size) {
  count_allocation();
  return __libc_malloc(size);
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
  count_allocation();
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t size) {
  count_allocation();
  return __libc_realloc(p, size);
}

namespace sluice::test {
namespace {

class HotPathAllocation : public ::testing::Test {
 protected:
  // Allocations made by the calling thread while the executor processes `count` frames.
  Counts allocations_for(engine::Executor& executor, const producer::FrameSet& set, std::size_t count) {
    auto run = std::make_shared<engine::BatchRun>();
    run->blocks.resize(1);
    for (std::size_t i = 0; i < count; ++i) {
      const auto& f = set.frames[i % set.frames.size()];
      Frame frame;
      frame.seq = i;
      frame.name = f.name;
      frame.payload = Payload(f.payload);
      run->blocks[0].frames.push_back(std::move(frame));
    }
    run->tasks_uncommitted = 1;
    const engine::Task task{run, 0, 0, count, 0};
    counts = Counts{};
    counts.on = true;
    executor.process(task, outcome_);
    counts.on = false;
    EXPECT_EQ(outcome_.count, count);
    for (const auto& r : outcome_.results()) EXPECT_TRUE(r.ok()) << r.error;
    return counts;
  }

  void check(const std::string& bundle_path, const model::BundleOverrides& overrides,
             const producer::FrameSet& set) {
    auto bundle = model::load_bundle(bundle_path, overrides);
    ASSERT_TRUE(bundle) << bundle.status().to_string();
    engine::MemoryBudget budget(std::size_t{1} << 30);
    observe::PipelineMetrics metrics;
    engine::ExecutorOptions options;
    options.cores = 1;  // inference on the calling thread, where the counting is
    options.max_batch = 64;
    auto executor = engine::Executor::create(0, *bundle, options, {budget, metrics});
    ASSERT_TRUE(executor) << executor.status().to_string();
    // Warm-up: buffers, decoder state and the runtime's arena reach their working size.
    for (int i = 0; i < 3; ++i) allocations_for(**executor, set, 64);
    const Counts small = allocations_for(**executor, set, 8);
    const Counts large = allocations_for(**executor, set, 64);
    const double library_per_frame =
        static_cast<double>(large.library - std::min(large.library, small.library)) / 56.0;
    RecordProperty("own_allocations_8_frames", std::to_string(small.own));
    RecordProperty("own_allocations_64_frames", std::to_string(large.own));
    RecordProperty("library_allocations_8_frames", std::to_string(small.library));
    RecordProperty("library_allocations_64_frames", std::to_string(large.library));
    std::printf(
        "sluice's own allocations per task: %zu (8 frames), %zu (64 frames); libraries: %zu, %zu "
        "(%.1f per added frame); unattributed: %zu, %zu\n",
        small.own, large.own, small.library, large.library, library_per_frame, small.unknown, large.unknown);
    EXPECT_LE(large.own, small.own) << "sluice's code made " << large.own
                                    << " heap allocations for 64 frames "
                                    << "against " << small.own << " for 8: something allocates per frame";
    EXPECT_EQ(large.unknown, 0u) << "allocations that could not be attributed";
  }

  // The committer's pooled outcome, reused as it is in the pipeline.
  engine::TaskOutcome outcome_;
};

TEST_F(HotPathAllocation, PngFramesOfTheMainJobAllocateNothingPerFrame) {
  SLUICE_REQUIRE_SETUP(fashion_bundle(), fashion_images());
  auto set = producer::load_idx_frames(fashion_images(), 64);
  ASSERT_TRUE(set) << set.status().to_string();
  check(fashion_bundle(), {}, *set);
}

TEST_F(HotPathAllocation, JpegPhotographsAllocateNothingPerFrame) {
  // Allocations are counted, not scores: the int8 model is right here on any CPU.
  const std::string model = shared_path("models/mobilenetv2-12-int8/mobilenetv2-12-int8.onnx");
  SLUICE_REQUIRE_SHARED(model, shared_path("images"));
  auto set = producer::load_frame_set({shared_path("images")});
  ASSERT_TRUE(set) << set.status().to_string();
  model::BundleOverrides overrides;
  overrides.preprocess_preset = "imagenet";
  check(model, overrides, *set);
}

}  // namespace
}  // namespace sluice::test
