#include "monitor/status_json.h"

#include "sluice/version.h"

namespace sluice::monitor {
namespace {
double ms(std::chrono::microseconds us) {
  return static_cast<double>(us.count()) / 1000.0;
}
template <typename T>
nlohmann::json optional_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json status_json(const PipelineStatus& s, const engine::StreamingContext& ctx) {
  using nlohmann::json;
  const auto& c = ctx.config();
  json sources = json::array();
  for (const auto& src : s.sources) {
    sources.push_back({{"name", src.name},
                       {"state", src.state},
                       {"active", src.active},
                       {"frames", src.frames},
                       {"bytes", src.bytes},
                       {"frames_per_second", src.frames_per_second},
                       {"rate_limit", optional_json(src.rate_limit)},
                       {"errors", src.errors},
                       {"restarts", src.restarts},
                       {"streams_open", src.streams_open},
                       {"dropped", src.dropped},
                       {"refused", src.refused},
                       {"queued_bytes", src.queued_bytes},
                       {"last_error", src.last_error}});
  }
  json labels = json::array();
  for (const auto& l : s.top_labels) labels.push_back({{"label", l.label}, {"count", l.count}});
  return {
      {"version", std::string(kVersion)},
      {"uptime_seconds", s.uptime_seconds},
      {"now_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count()},
      {"model", s.model},
      {"plan", ctx.plan_reason()},
      {"config",
       {{"batch_interval_ms", c.batch_interval.count()},
        {"block_interval_ms", c.block_interval.count()},
        {"executors", c.executors},
        {"cores", c.cores},
        {"max_batch", c.max_batch},
        {"memory_budget_bytes", c.memory_budget}}},
      {"stable", optional_json(s.stable)},
      {"frames",
       {{"received", s.received},
        {"processed", s.processed},
        {"failed", s.failed},
        {"duplicates", s.duplicates},
        {"in_flight", s.in_flight},
        {"received_per_second", s.received_per_second},
        {"answered_per_second", s.processed_per_second}}},
      {"batches", s.batches},
      {"sink_errors", s.sink_errors},
      {"output", {{"ok", s.output_ok}, {"error", s.output_error}, {"lines_waiting", s.lines_waiting}}},
      {"wal_ok", optional_json(s.wal_ok)},
      {"warnings", s.warnings},
      {"latency_ms",
       {{"p50", s.latency_p50_ms}, {"p99", s.latency_p99_ms}, {"samples", s.recent_latency_samples}}},
      {"queue",
       {{"frames_in_flight", s.in_flight},
        {"tasks", s.queued_tasks},
        {"store_blocks", s.store_blocks},
        {"store_bytes", s.store_bytes},
        {"budget_held_bytes", s.budget_held_bytes},
        {"memory_budget_bytes", s.memory_budget_bytes}}},
      {"resident_memory_bytes", optional_json(s.resident_memory_bytes)},
      {"sources", sources},
      {"failures", s.failures},
      {"top_labels", labels},
  };
}

nlohmann::json batches_json(const std::vector<BatchRecord>& batches,
                            std::chrono::milliseconds batch_interval) {
  nlohmann::json out = nlohmann::json::array();
  const double interval_s = static_cast<double>(batch_interval.count()) / 1000.0;
  for (const auto& b : batches) {
    const auto& i = b.info;
    out.push_back(
        {{"id", i.id},
         {"time_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(b.wall_time.time_since_epoch()).count()},
         {"records", i.records},
         {"failed", i.failed},
         {"blocks", i.blocks},
         // Spark's input rate: the batch's records over the interval they arrived in.
         {"input_rate", interval_s > 0 ? static_cast<double>(i.records) / interval_s : 0.0},
         {"scheduling_delay_ms", ms(i.scheduling_delay)},
         {"processing_time_ms", ms(i.processing_time)},
         {"total_delay_ms", ms(i.total_delay)}});
  }
  return out;
}

}  // namespace sluice::monitor
