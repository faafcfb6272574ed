// PipelineStatus: one consistent-enough reading of a running pipeline, with recent rates and
// latency quantiles, for /api/status and the terminal status line.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "monitor/pipeline_view.h"
#include "observe/histogram_window.h"
#include "observe/label_window.h"
#include "observe/rate_window.h"
#include "util/mutex.h"

namespace sluice::monitor {

struct SourceStatus {
  std::string name;
  std::string state;    // starting, running, backoff, reconnecting, stopped, failed
  bool active = false;  // running and receiving now (frames in the last seconds, or open streams)
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t errors = 0;
  std::uint64_t restarts = 0;
  std::uint64_t streams_open = 0;
  std::map<std::string, std::uint64_t> dropped;  // by reason (behind, corrupt, limit, stopped)
  std::map<std::string, std::uint64_t> refused;  // connections refused, by reason (token, per_peer, ...)
  std::uint64_t queued_bytes = 0;
  double frames_per_second = 0;      // over the last ~5 s
  std::optional<double> rate_limit;  // frames/s the rate controller holds it to; empty: unlimited
  std::string last_error;
};

struct PipelineStatus {
  std::string model;  // the backend's description of the model
  double uptime_seconds = 0;
  std::uint64_t received = 0;    // frames accepted
  std::uint64_t processed = 0;   // frames with a prediction line
  std::uint64_t failed = 0;      // frames with an error line
  std::uint64_t duplicates = 0;  // --dedup: frames whose line was already there
  std::uint64_t in_flight = 0;   // accepted, not done yet: the queue depth in frames
  std::uint64_t batches = 0;
  std::uint64_t sink_errors = 0;  // output writes that failed (and were retried)
  /// The output: false while it cannot be written (then no frame is accepted), and why.
  bool output_ok = true;
  std::string output_error;
  std::uint64_t lines_waiting = 0;  // results ready, waiting to be written
  /// The write-ahead log, when there is one: false while its writes fail.
  std::optional<bool> wal_ok;
  /// Conditions an operator should know about (an int8 model on a CPU without VNNI, ...).
  std::vector<std::string> warnings;
  double received_per_second = 0;            // over the last ~5 s
  double processed_per_second = 0;           // lines (predictions and errors) per second
  std::uint64_t recent_latency_samples = 0;  // frames answered in the last ~10 s
  double latency_p50_ms = 0;                 // receipt to result, over the last ~10 s
  double latency_p99_ms = 0;
  std::size_t queued_tasks = 0;
  std::size_t store_blocks = 0;
  std::size_t store_bytes = 0;
  std::size_t budget_held_bytes = 0;
  std::size_t memory_budget_bytes = 0;
  std::optional<std::uint64_t> resident_memory_bytes;
  /// Spark's test over the latest batches: each processed within the batch interval, and the
  /// newest one started within a batch interval of being cut. Empty before the first batch.
  std::optional<bool> stable;
  std::vector<SourceStatus> sources;
  std::map<std::string, std::uint64_t> failures;  // error lines by reason
  std::vector<observe::LabelCount> top_labels;    // last minute
};

/// Thread-safe: several readers (HTTP threads, the terminal) may sample at once.
class StatusSampler {
 public:
  explicit StatusSampler(PipelineView view);
  PipelineStatus sample();
  const PipelineView& view() const { return view_; }

 private:
  PipelineView view_;
  Clock::time_point started_;
  Mutex mu_;
  observe::RateWindow received_rate_ GUARDED_BY(mu_);
  observe::RateWindow answered_rate_ GUARDED_BY(mu_);
  std::vector<observe::RateWindow> source_rates_ GUARDED_BY(mu_);
  observe::HistogramWindow latency_window_ GUARDED_BY(mu_);
};

}  // namespace sluice::monitor
