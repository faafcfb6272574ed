// Pipeline: sluice inside an application's own process.
//
//   sluice::PipelineConfig config;
//   config.model = "bundle-dir-or-model.onnx";
//   auto pipeline = sluice::Pipeline::create(config, [](const sluice::FrameResult& r) { ... });
//   if (!pipeline) { /* pipeline.status() says why */ }
//   (*pipeline)->submit("name", bytes);
//   (*pipeline)->stop(std::chrono::seconds(30));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/frame.h"
#include "sluice/frame_result.h"
#include "sluice/pipeline_config.h"
#include "sluice/status.h"

namespace sluice {

namespace monitor {
struct PipelineView;
}

class Pipeline {
 public:
  /// Called once per frame, on the pipeline's commit thread, in seq order for each stream; it
  /// must not block for long. Without an output file, a frame is done (acknowledged to its
  /// producer, marked in the write-ahead log) once the callback has returned; with one, once
  /// its line is durable, and the callback follows.
  using ResultCallback = std::function<void(const FrameResult& result)>;

  /// Loads the model (one session per executor), opens the output and the write-ahead log, and
  /// starts: frames come in through submit(). For other sources, use load(), add_source(), start().
  static Result<std::unique_ptr<Pipeline>> create(PipelineConfig config, ResultCallback on_result = {});
  /// As create(), without starting: add sources, then start().
  static Result<std::unique_ptr<Pipeline>> load(PipelineConfig config, ResultCallback on_result = {});
  /// Stops (as stop() with a 30 s limit) if still running.
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Adds a source by its --source spec ("tcp-listen:127.0.0.1:9999", "dir:/in?done=/out",
  /// "plugin:lib.so?key=value", ...). Before start() only. Not thread-safe.
  Status add_source(std::string_view spec);
  /// Bytes of data in flight the pipeline may hold (see PipelineConfig::memory_budget), for a
  /// caller that sizes it from what loading the model took. Before start() only.
  Status set_memory_budget(std::uint64_t bytes);
  /// Starts receiving. Not thread-safe.
  Status start();

  /// Hands one encoded image (JPEG or PNG) in. Blocks while the pipeline is full (backpressure,
  /// as sources do). Fails with kClosed once stop() has begun, kLimit for a frame that can never
  /// fit the memory budget. Thread-safe; frames submitted form one stream, numbered in the order
  /// their submit() calls took place.
  Status submit(std::string_view name, std::span<const std::uint8_t> bytes);
  Status submit(Frame frame);

  /// Stops receiving, finishes every frame accepted so far, and returns once each has its
  /// result. If the output cannot be written within `timeout`, returns kIo saying how many
  /// frames have none (a write-ahead log keeps them for the next start). Idempotent.
  Status stop(std::chrono::milliseconds timeout);

  /// The same JSON document as the dashboard's /api/status. Thread-safe.
  std::string status_json() const;

  /// For the sluice command's dashboard and progress line (not part of the stable API).
  monitor::PipelineView& view();

  class Impl;
  explicit Pipeline(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
