#include "engine/executor.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::engine {
namespace {

// A raw frame (decoded video) skips decoding: its pixels are checked against the same limits as
// an image header, then copied into the executor's reused image buffer.
Status adopt_raw_pixels(const Frame& frame, int channels, std::uint64_t max_pixels,
                        vision::DecodedImage& out) {
  const auto& px = frame.pixels;
  const auto pixels = static_cast<std::uint64_t>(px.width) * px.height;
  if (px.width == 0 || px.height == 0) {
    return Status(Code::kDecode, fmt::format("raw frame claims {}x{} pixels (rule: both sides must be > 0)",
                                             px.width, px.height));
  }
  if (pixels > max_pixels) {
    return Status(Code::kLimit, fmt::format("raw frame is {}x{} = {} pixels, above the limit of {} (rule: "
                                            "--max-pixels)",
                                            px.width, px.height, pixels, max_pixels));
  }
  if (px.channels() != channels) {
    return Status(Code::kDecode,
                  fmt::format("raw frame has {} channel(s) but the model takes {}", px.channels(), channels));
  }
  if (frame.payload.size() != px.bytes()) {
    return Status(Code::kDecode, fmt::format("raw {}x{}x{} frame has {} payload bytes, not {}", px.width,
                                             px.height, px.channels(), frame.payload.size(), px.bytes()));
  }
  out.width = static_cast<int>(px.width);
  out.height = static_cast<int>(px.height);
  out.channels = channels;
  const auto bytes = frame.payload.bytes();
  out.pixels.assign(bytes.begin(), bytes.end());
  return Status::ok();
}

}  // namespace

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
      preprocessor_(std::move(preprocessor)),
      decoder_(options.max_pixels) {
  if (options_.jpeg_dct_scaling) decoder_.set_scaling_target(&preprocessor_.spec());
  const auto& shape = backend_->shape();
  input_.resize(options_.max_batch * shape.input_elements());
  output_.resize(options_.max_batch * static_cast<std::size_t>(shape.classes));
  slot_frame_.reserve(options_.max_batch);
  frame_status_.resize(options_.max_batch);
  records_.resize(options_.max_batch);
}

bool Executor::process(const Task& task) {
  auto& batch = *task.batch;
  const auto start = Clock::now();
  auto expected = std::numeric_limits<Clock::rep>::max();
  batch.first_start.compare_exchange_strong(expected, start.time_since_epoch().count());

  // Tasks of one block cover disjoint frame ranges, so each may modify its own frames.
  Block& block = batch.blocks[task.block];
  const std::size_t count = task.end - task.begin;
  const auto& shape = backend_->shape();
  const std::size_t elements = shape.input_elements();
  const int channels = preprocessor_.spec().channels();

  // Budget to give back at the end: what these frames hold in memory now. A spilled block gave
  // its budget back when it went to disk, and reads its payloads back here, outside the budget.
  std::size_t payload_bytes = 0;
  for (std::size_t i = task.begin; i < task.end; ++i) payload_bytes += block.frames[i].payload.size();

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
    Status st = frame.pixels.raw() ? adopt_raw_pixels(frame, channels, options_.max_pixels, image_)
                                   : decoder_.decode(frame.payload.bytes(), channels, image_);
    if (st) {
      const std::size_t slot = slot_frame_.size();
      st = preprocessor_.run(image_, std::span<float>(input_).subspan(slot * elements, elements));
    }
    if (st) slot_frame_.push_back(i);
    frame_status_[i] = std::move(st);
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

  // 3. One result line per frame, in arrival order.
  const auto done = Clock::now();
  std::size_t slot = 0;
  std::size_t failed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const Frame& frame = block.frames[task.begin + i];
    auto& record = records_[i];
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
      record.error = failure->to_string();
      services_.metrics.count_failure(code_name(failure->code()));
      ++failed;
    }
  }
  if (auto st = services_.sink.write(std::span<const sink::ResultRecord>(records_.data(), count)); !st) {
    services_.metrics.sink_errors += count;
    spdlog::error("executor {}: {} result lines could not be written: {}", id_, count, st.to_string());
  }
  if (services_.frames_done) {
    services_.frames_done(block.source, std::span<const Frame>(block.frames).subspan(task.begin, count));
  }
  services_.metrics.frames_failed += failed;
  services_.metrics.frames_succeeded += count - failed;
  batch.failed += failed;
  // The payloads go now, not when the whole batch ends: the budget released below must match
  // memory actually freed. Metadata (stream, seq, WAL position) stays for the batch's end.
  for (std::size_t i = task.begin; i < task.end; ++i) block.frames[i].payload = Payload();
  services_.budget.release(payload_bytes);
  return batch.tasks_left.fetch_sub(1) == 1;
}

}  // namespace sluice::engine
