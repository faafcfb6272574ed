#include "monitor/pipeline_status.h"

#include "observe/process_memory.h"

namespace sluice::monitor {
namespace {
constexpr std::size_t kTopLabels = 10;
constexpr std::size_t kStabilityBatches = 10;
}  // namespace

StatusSampler::StatusSampler(PipelineView view)
    : view_(std::move(view)),
      started_(Clock::now()),
      source_rates_(view_.context.source_count()),
      latency_window_(view_.results.latency()) {}

PipelineStatus StatusSampler::sample() {
  auto& ctx = view_.context;
  const auto& metrics = ctx.metrics();
  const auto now = Clock::now();
  PipelineStatus s;
  s.uptime_seconds = std::chrono::duration<double>(now - started_).count();
  s.received = metrics.frames_received.load();
  s.processed = metrics.frames_succeeded.load();
  s.failed = metrics.frames_failed.load();
  s.duplicates = metrics.duplicates_suppressed.load();
  s.in_flight = metrics.in_flight();
  s.batches = metrics.batches_completed.load();
  s.sink_errors = metrics.sink_write_failures.load();
  s.output_ok = ctx.sink_healthy();
  if (!s.output_ok) s.output_error = ctx.sink_error();
  s.lines_waiting = ctx.lines_waiting();
  if (const auto* wal = ctx.wal()) s.wal_ok = wal->healthy();
  s.warnings = view_.warnings;
  s.model = ctx.model_description();
  s.queued_tasks = ctx.queued_tasks();
  s.store_blocks = ctx.store_blocks();
  s.store_bytes = ctx.store_bytes();
  s.budget_held_bytes = ctx.budget_held();
  s.memory_budget_bytes = ctx.budget_limit();
  s.resident_memory_bytes = observe::resident_memory_bytes();
  s.failures = metrics.error_lines_by_reason();
  s.top_labels = view_.results.top_labels(kTopLabels);

  const auto recent = view_.batches.latest(kStabilityBatches);
  if (!recent.empty()) {
    const auto interval = std::chrono::duration_cast<std::chrono::microseconds>(ctx.config().batch_interval);
    bool stable = recent.back().info.scheduling_delay < interval;
    for (const auto& b : recent) stable = stable && b.info.processing_time < interval;
    s.stable = stable;
  }

  MutexLock lock(mu_);
  received_rate_.sample(now, s.received);
  answered_rate_.sample(now, s.processed + s.failed);
  s.received_per_second = received_rate_.per_second();
  s.processed_per_second = answered_rate_.per_second();
  const auto latency = latency_window_.recent(now);
  s.recent_latency_samples = latency.count;
  s.latency_p50_ms = latency.quantile(0.5) * 1000.0;
  s.latency_p99_ms = latency.quantile(0.99) * 1000.0;
  for (std::size_t i = 0; i < ctx.source_count() && i < source_rates_.size(); ++i) {
    const auto& stats = ctx.source_stats(i);
    SourceStatus src;
    src.name = stats.name();
    src.state = observe::source_state_name(stats.state());
    src.frames = stats.frames.load();
    src.bytes = stats.bytes.load();
    src.errors = stats.errors.load();
    src.restarts = stats.restarts.load();
    src.streams_open = stats.streams_open.load();
    for (std::size_t r = 0; r < observe::kDropReasons; ++r) {
      const auto reason = static_cast<observe::DropReason>(r);
      src.dropped[observe::drop_reason_name(reason)] = stats.drops(reason);
    }
    for (std::size_t r = 0; r < observe::kRefuseReasons; ++r) {
      const auto reason = static_cast<observe::RefuseReason>(r);
      src.refused[observe::refuse_reason_name(reason)] = stats.refusals(reason);
    }
    src.queued_bytes = stats.queued_bytes.load();
    src.last_error = stats.last_error();
    if (const double limit = ctx.rate_limit(i); limit > 0) src.rate_limit = limit;
    source_rates_[i].sample(now, src.frames);
    src.frames_per_second = source_rates_[i].per_second();
    src.active = stats.state() == observe::SourceState::kRunning &&
                 (src.frames_per_second > 0 || src.streams_open > 0);
    s.sources.push_back(std::move(src));
  }
  return s;
}

}  // namespace sluice::monitor
