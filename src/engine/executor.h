// Executor: a worker with its own model session. It decodes, preprocesses straight into its
// batch tensor, infers, picks the top-k, and fills one result per frame for the committer.
#pragma once

#include <memory>
#include <vector>

#include "engine/batch_run.h"
#include "engine/frame_preparer.h"
#include "engine/memory_budget.h"
#include "model/backend.h"
#include "observe/pipeline_metrics.h"

namespace sluice::engine {

struct ExecutorOptions {
  int cores = 1;  // intra-op threads of the model session
  std::size_t max_batch = 64;
  int top_k = 5;
  std::uint64_t max_pixels = vision::kDefaultMaxPixels;
  bool jpeg_dct_scaling = false;  // opt-in: decode large JPEGs at 1/2..1/8 scale (faster, not exact)
};

/// What every executor shares with the rest of the pipeline.
struct ExecutorServices {
  /// Decoded pixels and resize buffers: reserved before an image is decoded, released after.
  MemoryBudget& decode_budget;
  observe::PipelineMetrics& metrics;
};

class Executor {
 public:
  /// Loads the model session; fails at start-up, never later.
  static Result<std::unique_ptr<Executor>> create(int id, const model::ModelBundle& bundle,
                                                  const ExecutorOptions& options, ExecutorServices services);

  /// One model call at the full batch size on a blank tensor, so that the runtime's working
  /// memory for a full batch is allocated now (and counted when the caller measures what loading
  /// took) rather than during the first real batch.
  Status warm_up();

  /// Processes one task into `out` (one result per frame, in frame order) and drops the frames'
  /// payloads. `out.reserved_bytes` is what the frames held of the memory budget.
  void process(const Task& task, TaskOutcome& out);

  int id() const { return id_; }
  const model::Backend& backend() const { return *backend_; }

  Executor(int id, const model::ModelBundle& bundle, const ExecutorOptions& options,
           ExecutorServices services, std::unique_ptr<model::Backend> backend,
           vision::Preprocessor preprocessor);

 private:
  int id_;
  const model::ModelBundle& bundle_;
  ExecutorOptions options_;
  ExecutorServices services_;
  std::unique_ptr<model::Backend> backend_;
  FramePreparer preparer_;
  // Reused across tasks: no per-frame allocation once warmed up.
  std::vector<float> input_;
  std::vector<float> output_;
  std::vector<std::size_t> slot_frame_;  // tensor slot -> frame index in the task
  std::vector<Status> frame_status_;
  std::vector<model::Prediction> predictions_;
};

}  // namespace sluice::engine
