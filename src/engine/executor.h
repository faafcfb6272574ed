// Executor: a worker with its own model session. It decodes, preprocesses straight into its
// batch tensor, infers, picks the top-k, and writes one result line per frame.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "engine/batch_run.h"
#include "engine/memory_budget.h"
#include "model/backend.h"
#include "observe/pipeline_metrics.h"
#include "sink/sink.h"
#include "vision/image_decoder.h"
#include "vision/preprocess.h"

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
  sink::Sink& sink;
  MemoryBudget& budget;
  observe::PipelineMetrics& metrics;
  /// Told which frames of which source have their result lines written (for acknowledgements).
  std::function<void(std::size_t source, std::span<const Frame> frames)> frames_done;
};

class Executor {
 public:
  /// Loads the model session; fails at start-up, never later.
  static Result<std::unique_ptr<Executor>> create(int id, const model::ModelBundle& bundle,
                                                  const ExecutorOptions& options, ExecutorServices services);

  /// Processes one task. Returns true when it was the last task of its batch.
  bool process(const Task& task);

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
  vision::Preprocessor preprocessor_;
  vision::ImageDecoder decoder_;
  // Reused across tasks: no per-frame allocation once warmed up.
  vision::DecodedImage image_;
  std::vector<float> input_;
  std::vector<float> output_;
  std::vector<std::size_t> slot_frame_;  // tensor slot -> frame index in the task
  std::vector<Status> frame_status_;
  std::vector<model::Prediction> predictions_;
  std::vector<sink::ResultRecord> records_;
};

}  // namespace sluice::engine
