#include "engine/executor.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::engine {

Result<std::unique_ptr<Executor>> Executor::create(int id, const model::ModelBundle& bundle,
                                                   const ExecutorOptions& options,
                                                   ExecutorServices services) {
  auto backend = model::create_backend(bundle, {options.cores, options.max_batch});
  if (!backend) return backend.status();
  const auto& shape = (*backend)->shape();
  auto preprocessor =
      vision::Preprocessor::create(*bundle.preprocess, shape.channels, shape.height, shape.width);
  if (!preprocessor) return preprocessor.status();
  if (!bundle.labels.size()) {
    spdlog::warn("model has no labels: results carry class indices only (give --labels FILE)");
  } else if (bundle.labels.size() != static_cast<std::size_t>(shape.classes)) {
    spdlog::warn("the labels file has {} labels but the model outputs {} classes", bundle.labels.size(),
                 shape.classes);
  }
  return std::make_unique<Executor>(id, bundle, options, services, std::move(*backend),
                                    std::move(*preprocessor));
}

Executor::Executor(int id, const model::ModelBundle& bundle, const ExecutorOptions& options,
                   ExecutorServices services, std::unique_ptr<model::Backend> backend,
                   vision::Preprocessor preprocessor)
    : id_(id),
      bundle_(bundle),
      options_(options),
      services_(services),
      backend_(std::move(backend)),
      preparer_(std::move(preprocessor), options.max_pixels, options.jpeg_dct_scaling,
                &services.decode_budget) {
  const auto& shape = backend_->shape();
  input_.resize(options_.max_batch * shape.input_elements());
  output_.resize(options_.max_batch * static_cast<std::size_t>(shape.classes));
  slot_frame_.reserve(options_.max_batch);
  frame_status_.resize(options_.max_batch);
}

Status Executor::warm_up() {
  std::fill(input_.begin(), input_.end(), 0.0f);
  return backend_->infer(input_, options_.max_batch, output_);
}

void Executor::process(const Task& task, TaskOutcome& out) {
  auto& batch = *task.batch;
  const auto start = Clock::now();
  auto expected = std::numeric_limits<Clock::rep>::max();
  batch.first_start.compare_exchange_strong(expected, start.time_since_epoch().count());

  // Tasks of one block cover disjoint frame ranges, so each may modify its own frames.
  Block& block = batch.blocks[task.block];
  const std::size_t count = task.end - task.begin;
  const auto& shape = backend_->shape();

  // What these frames reserved: their payloads in memory. A spilled block gave its reservation
  // back when it went to disk, and reads its payloads back here, outside the budget.
  out.reserved_bytes = 0;
  for (std::size_t i = task.begin; i < task.end; ++i) out.reserved_bytes += block.frames[i].payload.size();

  // 1. Decode and preprocess each frame straight into its slot of the batch tensor.
  slot_frame_.clear();
  for (std::size_t i = 0; i < count; ++i) {
    Frame& frame = block.frames[task.begin + i];
    if (block.spill) {
      auto payload = block.spill->read(task.begin + i);
      if (!payload) {
        frame_status_[i] = payload.status();
        continue;
      }
      frame.payload = std::move(*payload);
    }
    const std::size_t elements = shape.input_elements();
    Status st =
        preparer_.prepare(frame, std::span<float>(input_).subspan(slot_frame_.size() * elements, elements));
    if (st) slot_frame_.push_back(i);
    frame_status_[i] = std::move(st);
    // The payload is not needed any more; its reservation stays until the frame is done.
    frame.payload = Payload();
  }

  // 2. One model call for every frame that decoded.
  Status infer_status;
  if (!slot_frame_.empty()) {
    const auto infer_start = Clock::now();
    infer_status = backend_->infer(input_, slot_frame_.size(), output_);
    services_.metrics.inference_seconds.observe(
        std::chrono::duration<double>(Clock::now() - infer_start).count());
  }
  if (!infer_status) {
    spdlog::error("executor {}: inference failed for {} frames: {}", id_, slot_frame_.size(),
                  infer_status.to_string());
  }

  // 3. One result per frame, in arrival order.
  const auto done = Clock::now();
  if (out.records.size() < count) out.records.resize(count);
  out.count = count;
  std::size_t slot = 0;
  std::size_t failed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const Frame& frame = block.frames[task.begin + i];
    auto& record = out.records[i];
    record.stream = frame.stream;
    record.seq = frame.seq;
    record.token = frame.token;
    record.name = frame.name;
    record.pts_ms = frame.pts_ms;
    record.url = frame.origin;
    record.batch = batch.info.id;
    record.latency_ms = std::chrono::duration<double, std::milli>(done - frame.arrival).count();
    record.top.clear();
    record.error.clear();
    record.error_code = Code::kOk;
    record.duplicate = false;
    const Status* failure = nullptr;
    if (!frame_status_[i]) {
      failure = &frame_status_[i];
    } else {
      const auto row = std::span<const float>(output_).subspan(slot * static_cast<std::size_t>(shape.classes),
                                                               static_cast<std::size_t>(shape.classes));
      if (!infer_status) {
        failure = &infer_status;
      } else if (!std::all_of(row.begin(), row.end(), [](float v) { return std::isfinite(v); })) {
        frame_status_[i] = Status(Code::kModel, "the model output for this frame contains NaN or infinity");
        failure = &frame_status_[i];
      } else {
        model::top_k(row, options_.top_k, bundle_.output_kind, predictions_);
        for (const auto& p : predictions_) {
          record.top.push_back({p.index, bundle_.labels.at(static_cast<std::size_t>(p.index)), p.score});
        }
      }
      ++slot;
    }
    if (failure != nullptr) {
      record.error_code = failure->code();
      record.error = failure->to_string();
      ++failed;
    }
  }
  batch.failed += failed;
  out.task = task;
}

}  // namespace sluice::engine
