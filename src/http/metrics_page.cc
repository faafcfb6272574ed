#include "http/metrics_page.h"

#include <limits>

#include "observe/process_memory.h"
#include "observe/prometheus_text.h"
#include "sluice/version.h"

namespace sluice::http {

std::string render_metrics(const monitor::PipelineView& view) {
  using observe::PrometheusText;
  auto& ctx = view.context;
  const auto& m = ctx.metrics();
  PrometheusText out;
  auto d = [](auto v) { return static_cast<double>(v); };

  out.family("sluice_build_info", "gauge", "Always 1; the labels describe this build of sluice.");
  out.sample("sluice_build_info", {{"version", std::string(kVersion)}}, 1);

  out.family("sluice_frames_received_total", "counter",
             "Frames accepted from a source (each gets exactly one result or error line).");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    out.sample("sluice_frames_received_total", {{"source", s.name()}}, d(s.frames.load()));
  }
  out.family("sluice_received_bytes_total", "counter", "Payload bytes accepted from a source.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    out.sample("sluice_received_bytes_total", {{"source", s.name()}}, d(s.bytes.load()));
  }
  out.family("sluice_frames_processed_total", "counter", "Frames whose prediction line was written.");
  out.sample("sluice_frames_processed_total", d(m.frames_succeeded.load()));
  out.family("sluice_frames_failed_total", "counter",
             "Frames whose error line was written, by reason (decode, limit, model, ...).");
  for (const auto& [reason, count] : m.error_lines_by_reason()) {
    out.sample("sluice_frames_failed_total", {{"reason", reason}}, d(count));
  }
  out.family("sluice_frames_duplicate_total", "counter",
             "--dedup: frames whose (stream, seq) already had a line, so none was written.");
  out.sample("sluice_frames_duplicate_total", d(m.duplicates_suppressed.load()));
  out.family("sluice_frames_in_flight", "gauge",
             "Queue depth: frames accepted whose result line is not durable yet.");
  out.sample("sluice_frames_in_flight", d(m.in_flight()));
  out.family("sluice_batches_completed_total", "counter", "Batches whose every frame has its line.");
  out.sample("sluice_batches_completed_total", d(m.batches_completed.load()));
  out.family("sluice_sink_errors_total", "counter",
             "Writes of result lines to the output that failed (each is retried; no frame is dropped).");
  out.sample("sluice_sink_errors_total", d(m.sink_write_failures.load()));
  out.family("sluice_sink_healthy", "gauge",
             "1 while the output is written; 0 while writes fail (then no new frame is accepted).");
  out.sample("sluice_sink_healthy", ctx.sink_healthy() ? 1 : 0);
  out.family("sluice_result_lines_waiting", "gauge",
             "Results ready and waiting for their line to be durable.");
  out.sample("sluice_result_lines_waiting", d(ctx.lines_waiting()));

  out.family("sluice_source_errors_total", "counter",
             "Errors of a source that involve no single frame: framing errors, failed connects.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    out.sample("sluice_source_errors_total", {{"source", s.name()}}, d(s.errors.load()));
  }
  out.family("sluice_source_open_streams", "gauge", "Producer connections a source is reading now.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    out.sample("sluice_source_open_streams", {{"source", s.name()}}, d(s.streams_open.load()));
  }
  out.family("sluice_source_state", "gauge", "1 for the state each source is in, 0 for the others.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    for (const auto state : {observe::SourceState::kStarting, observe::SourceState::kRunning,
                             observe::SourceState::kBackoff, observe::SourceState::kReconnecting,
                             observe::SourceState::kStopped, observe::SourceState::kFailed}) {
      out.sample("sluice_source_state", {{"source", s.name()}, {"state", observe::source_state_name(state)}},
                 s.state() == state ? 1 : 0);
    }
  }

  out.family("sluice_source_restarts_total", "counter",
             "Restarts of a source by its supervisor, and reconnects of a camera or stream.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    out.sample("sluice_source_restarts_total", {{"source", s.name()}}, d(s.restarts.load()));
  }
  out.family("sluice_source_frames_dropped_total", "counter",
             "Frames a source let go without storing them, by reason: behind (a live source's queue was "
             "full), corrupt (rejected by the decoder), limit (over --max-pixels), stopped.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    for (std::size_t r = 0; r < observe::kDropReasons; ++r) {
      const auto reason = static_cast<observe::DropReason>(r);
      out.sample("sluice_source_frames_dropped_total",
                 {{"source", s.name()}, {"reason", observe::drop_reason_name(reason)}}, d(s.drops(reason)));
    }
  }
  out.family("sluice_ingest_refused_total", "counter",
             "Producer connections a listening source refused before anything of them was stored, by "
             "reason: token, stream_id, name_prefix, no_credential (--tokens), stream_taken (another live "
             "connection holds the stream id), max_connections, per_peer (--max-connections-per-peer), "
             "fd_exhausted (out of file descriptors); with TLS, tls_certificate (none, or not signed by "
             "--tls-ca), tls_version (below TLS 1.2), tls_timeout, tls_protocol (not TLS, or broken off).");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    for (std::size_t r = 0; r < observe::kRefuseReasons; ++r) {
      const auto reason = static_cast<observe::RefuseReason>(r);
      out.sample("sluice_ingest_refused_total",
                 {{"source", s.name()}, {"reason", observe::refuse_reason_name(reason)}},
                 d(s.refusals(reason)));
    }
  }
  out.family(
      "sluice_source_queued_bytes", "gauge",
      "Payload bytes waiting in a source's own bounded queue (live video), outside the memory budget.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const auto& s = ctx.source_stats(i);
    out.sample("sluice_source_queued_bytes", {{"source", s.name()}}, d(s.queued_bytes.load()));
  }

  out.histogram("sluice_batch_processing_time_seconds",
                "Per batch: from its first task's start to its last task's end (Spark's processing time).",
                view.batches.processing_time().snapshot());
  out.histogram("sluice_batch_scheduling_delay_seconds",
                "Per batch: from the batch being cut to its first task's start (Spark's scheduling delay).",
                view.batches.scheduling_delay().snapshot());
  out.histogram("sluice_batch_total_delay_seconds",
                "Per batch: from the batch being cut to its last task's end (Spark's total delay).",
                view.batches.total_delay().snapshot());
  out.histogram("sluice_inference_time_seconds",
                "Per model call (one task of up to --max-batch frames of a batch): time in the backend.",
                m.inference_seconds.snapshot());
  out.histogram("sluice_frame_latency_seconds", "Per frame: from receipt to its result line.",
                view.results.latency().snapshot());

  out.family("sluice_batch_interval_seconds", "gauge", "The configured batch interval.");
  out.sample("sluice_batch_interval_seconds", d(ctx.config().batch_interval.count()) / 1000.0);
  out.family("sluice_queued_tasks", "gauge",
             "Tasks (slices of up to --max-batch frames) waiting for an executor.");
  out.sample("sluice_queued_tasks", d(ctx.queued_tasks()));
  out.family("sluice_block_store_blocks", "gauge",
             "Sealed blocks waiting in the block store for their batch.");
  out.sample("sluice_block_store_blocks", d(ctx.store_blocks()));
  out.family("sluice_block_store_bytes", "gauge", "Payload bytes of the blocks waiting in the block store.");
  out.sample("sluice_block_store_bytes", d(ctx.store_bytes()));
  out.family(
      "sluice_memory_budget_held_bytes", "gauge",
      "Bytes of frames in flight, whole and partial, and of the dedup index (sources stop reading at the "
      "budget).");
  out.sample("sluice_memory_budget_held_bytes", d(ctx.budget_held()));
  out.family("sluice_memory_budget_bytes", "gauge",
             "What frames in flight may hold (part of --memory-budget).");
  out.sample("sluice_memory_budget_bytes", d(ctx.budget_limit()));
  out.family("sluice_rate_controller_rate_frames_per_second", "gauge",
             "The rate the rate controller (--backpressure, --max-rate) holds a source to; +Inf: unlimited.");
  for (std::size_t i = 0; i < ctx.source_count(); ++i) {
    const double limit = ctx.rate_limit(i);
    out.sample("sluice_rate_controller_rate_frames_per_second", {{"source", ctx.source_stats(i).name()}},
               limit > 0 ? limit : std::numeric_limits<double>::infinity());
  }
  if (const auto rss = observe::resident_memory_bytes()) {
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", d(*rss));
  }
  return out.text();
}

}  // namespace sluice::http
