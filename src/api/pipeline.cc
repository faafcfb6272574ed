#include "sluice/pipeline.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>

#include "api/submit_source.h"
#include "engine/config_rules.h"
#include "engine/streaming_context.h"
#include "model/model_bundle.h"
#include "model/quantization.h"
#include "monitor/pipeline_status.h"
#include "monitor/pipeline_view.h"
#include "monitor/status_json.h"
#include "sink/callback_sink.h"
#include "sink/json_lines_sink.h"
#include "source/source_factory.h"
#include "store/write_ahead_log.h"
#include "video/url_redaction.h"
#include "vision/preprocess.h"

namespace sluice {
namespace {

// The result callback when there is an output file too: told once the line is durable.
class CallbackListener final : public engine::ResultListener {
 public:
  explicit CallbackListener(Pipeline::ResultCallback callback) : callback_(std::move(callback)) {}
  void on_results(std::span<const sink::ResultRecord> results) override {
    for (const auto& r : results) {
      if (!r.duplicate) callback_(r);
    }
  }

 private:
  Pipeline::ResultCallback callback_;
};

Result<model::ModelBundle> load_model(const PipelineConfig& config) {
  model::BundleOverrides overrides;
  if (!config.labels.empty()) overrides.labels_path = config.labels;
  if (!config.preprocess.empty()) overrides.preprocess_preset = config.preprocess;
  if (!config.precision.empty()) overrides.precision = config.precision;
  if (!config.output_kind.empty()) {
    auto kind = model::parse_output_kind(config.output_kind);
    if (!kind) return kind.status();
    overrides.output_kind = *kind;
  }
  return model::load_bundle(config.model, overrides);
}

// A library must not write its log to the application's standard output: spdlog's own default
// logger does, so it is replaced by one on stderr. A logger the application set stays.
void use_stderr_for_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (spdlog::default_logger()->name().empty())
      spdlog::set_default_logger(spdlog::stderr_color_mt("sluice"));
  });
}

}  // namespace

class Pipeline::Impl {
 public:
  PipelineConfig config;
  model::ModelBundle bundle;
  std::unique_ptr<store::WriteAheadLog> wal;
  std::unique_ptr<sink::Sink> sink;
  std::unique_ptr<CallbackListener> callback_listener;
  monitor::ResultObserver observer;
  monitor::BatchHistory batches;
  std::unique_ptr<engine::StreamingContext> context;
  api::SubmitSource* submit = nullptr;  // owned by the context
  std::unique_ptr<monitor::PipelineView> view;
  std::unique_ptr<monitor::StatusSampler> sampler;
  std::shared_ptr<const source::ProducerIdentities> identities;  // config.tokens_file
  bool started = false;
  bool stopped = false;
  Status stop_status;
};

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pipeline::~Pipeline() {
  (void)stop(std::chrono::seconds(30));
  // The log goes before the context: closing it runs the callbacks of appends still in flight
  // (tcp-listen admits without waiting for the log), and they reach into the context's
  // admission (memory budget, block generators). A failing log leaves such appends waiting.
  impl_->wal.reset();
}

Result<std::unique_ptr<Pipeline>> Pipeline::load(PipelineConfig config, ResultCallback on_result) {
  use_stderr_for_logs();
  // The context fills in the derived defaults itself (and logs the plan it chose).
  if (auto st = engine::validate(engine::with_defaults(config)); !st) return st;
  if (config.output.empty() && !on_result) {
    return Status(Code::kInvalidArgument,
                  "results need somewhere to go: give an output file or a result callback");
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  auto bundle = load_model(config);
  if (!bundle) return bundle.status();
  impl->bundle = std::move(*bundle);
  if (!config.tokens_file.empty()) {
    auto identities = source::ProducerIdentities::load(config.tokens_file);
    if (!identities) return identities.status();
    impl->identities = std::move(*identities);
  }
  auto& fs = config.file_system != nullptr ? *config.file_system : fs::FileSystem::posix();
  if (!config.wal_dir.empty()) {
    auto wal = store::WriteAheadLog::open({config.wal_dir, config.fsync, config.fsync_interval,
                                           static_cast<std::size_t>(config.wal_segment_bytes), &fs});
    if (!wal) return wal.status();
    impl->wal = std::move(*wal);
  }
  std::uint64_t highest_stream = 0;
  if (!config.output.empty()) {
    // With a log the output is appended to: a restart adds the results of the replayed frames.
    auto file = sink::JsonLinesSink::open(
        config.output, {config.append || config.dedup || impl->wal != nullptr, config.dedup}, fs);
    if (!file) return file.status();
    highest_stream = (*file)->existing().highest_server_stream;
    impl->sink = std::move(*file);
    if (on_result) impl->callback_listener = std::make_unique<CallbackListener>(std::move(on_result));
  } else {
    impl->sink = std::make_unique<sink::CallbackSink>(std::move(on_result));
  }
  impl->context = std::make_unique<engine::StreamingContext>(config, impl->bundle, *impl->sink);
  auto& ctx = *impl->context;
  ctx.add_listener(&impl->batches);
  ctx.add_result_listener(&impl->observer);
  if (impl->callback_listener) ctx.add_result_listener(impl->callback_listener.get());
  if (impl->wal) ctx.set_write_ahead_log(impl->wal.get());
  // Stream ids never repeat one the output already holds, with or without a log.
  ctx.set_stream_id_floor(highest_stream);
  if (auto st = ctx.load(); !st) return st;
  if (config.submit) {
    auto submit = std::make_unique<api::SubmitSource>();
    impl->submit = submit.get();
    ctx.add_source(std::move(submit));
  }
  std::vector<std::string> warnings;
  if (auto warning = model::int8_cpu_warning(impl->bundle.model_path)) {
    spdlog::warn("{}", *warning);
    warnings.push_back(*warning);
  }
  impl->view = std::make_unique<monitor::PipelineView>(
      monitor::PipelineView{ctx, impl->batches, impl->observer, std::move(warnings)});
  return std::make_unique<Pipeline>(std::move(impl));
}

Result<std::unique_ptr<Pipeline>> Pipeline::create(PipelineConfig config, ResultCallback on_result) {
  auto pipeline = load(std::move(config), std::move(on_result));
  if (!pipeline) return pipeline.status();
  if (auto st = (*pipeline)->start(); !st) return st;
  return pipeline;
}

Status Pipeline::add_source(std::string_view spec) {
  if (impl_->started) {
    return Status(Code::kInvalidArgument,
                  "sources are added before start() (use Pipeline::load, then start)");
  }
  auto parsed = source::parse_source_spec(spec);
  // The message quotes the spec, which may hold a camera's password.
  if (!parsed) return Status(parsed.status().code(), video::redact_text(parsed.status().message()));
  const auto& c = impl_->config;
  source::SourceDefaults defaults{static_cast<std::size_t>(c.max_frame_bytes), c.max_connections,
                                  c.idle_timeout, c.file_system};
  defaults.max_pixels = c.max_pixels;
  defaults.max_connections_per_peer = c.max_connections_per_peer;
  defaults.identities = impl_->identities;
  defaults.tls = {c.tls_cert, c.tls_key, c.tls_ca};
  // Video sources decode straight to the pixels the model takes (RGB, or gray for gray models),
  // converting large pictures straight to the size the preprocessing resizes them to.
  const auto& preprocess = impl_->bundle.preprocess;
  defaults.video_channels = preprocess ? preprocess->channels() : 3;
  if (preprocess) {
    defaults.video_resize_target = [spec = *preprocess](int width, int height) {
      const auto [w, h] = vision::resize_target(spec, width, height);
      constexpr std::int64_t kMaxSide = std::numeric_limits<int>::max();
      return std::pair<int, int>(static_cast<int>(std::min(w, kMaxSide)),
                                 static_cast<int>(std::min(h, kMaxSide)));
    };
  }
  auto made = source::make_source(*parsed, defaults);
  if (!made) return made.status();
  impl_->context->add_source(std::move(*made));
  return Status::ok();
}

Status Pipeline::set_memory_budget(std::uint64_t bytes) {
  if (impl_->started) return Status(Code::kInvalidArgument, "the memory budget is set before start()");
  if (bytes < (1u << 20)) return Status(Code::kInvalidArgument, "the memory budget must be at least 1 MiB");
  impl_->context->set_memory_budget(static_cast<std::size_t>(bytes));
  return Status::ok();
}

Status Pipeline::start() {
  if (impl_->started) return Status::ok();
  if (impl_->stopped) return Status(Code::kClosed, "the pipeline is stopped");
  if (auto st = impl_->context->start(); !st) return st;
  impl_->started = true;
  impl_->sampler = std::make_unique<monitor::StatusSampler>(*impl_->view);
  return Status::ok();
}

Status Pipeline::submit(std::string_view name, std::span<const std::uint8_t> bytes) {
  Frame frame;
  frame.name = std::string(name);
  frame.payload = Payload(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
  return submit(std::move(frame));
}

Status Pipeline::submit(Frame frame) {
  if (impl_->submit == nullptr)
    return Status(Code::kInvalidArgument, "this pipeline was made with submit = false");
  return impl_->submit->submit(std::move(frame));
}

Status Pipeline::stop(std::chrono::milliseconds timeout) {
  if (impl_->stopped) return impl_->stop_status;
  impl_->stopped = true;
  const std::uint64_t left = impl_->context->stop(Clock::now() + timeout);
  if (left > 0) {
    impl_->stop_status = Status(
        Code::kIo, fmt::format("{} accepted frame(s) have no result: the output could not be written ({}){}",
                               left, impl_->context->sink_error(),
                               impl_->wal ? "; the write-ahead log keeps them for the next start" : ""));
  }
  return impl_->stop_status;
}

std::string Pipeline::status_json() const {
  if (!impl_->sampler) return "{}";
  return monitor::status_json(impl_->sampler->sample(), *impl_->context).dump();
}

monitor::PipelineView& Pipeline::view() {
  return *impl_->view;
}

}  // namespace sluice
