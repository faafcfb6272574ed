// PipelineMetrics: the counters every part of the pipeline updates. Lock-free on hot paths.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "observe/histogram.h"
#include "sluice/status.h"

namespace sluice::observe {

class PipelineMetrics {
 public:
  std::atomic<std::uint64_t> frames_received{0};
  std::atomic<std::uint64_t> bytes_received{0};
  // The three below count the frames that are done, at the moment their lines are durable.
  std::atomic<std::uint64_t> frames_succeeded{0};       // a prediction line was written
  std::atomic<std::uint64_t> frames_failed{0};          // an error line was written
  std::atomic<std::uint64_t> duplicates_suppressed{0};  // --dedup: the line was already there
  std::atomic<std::uint64_t> streams_opened{0};
  std::atomic<std::uint64_t> streams_failed{0};       // closed by a framing or I/O error
  std::atomic<std::uint64_t> sink_write_failures{0};  // output writes that failed (and were retried)
  std::atomic<std::uint64_t> batches_completed{0};
  /// Wall time of each model call (one task of up to --max-batch frames), in seconds.
  Histogram inference_seconds;

  /// Counts one error line under its code.
  void count_error_line(Code code) {
    error_lines_[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  }
  /// Error lines written, by code name ("decode", "limit", "model", ...); codes with none are left out.
  std::map<std::string, std::uint64_t> error_lines_by_reason() const;

  /// Frames accepted that are not done yet.
  std::uint64_t in_flight() const {
    return frames_received - frames_succeeded - frames_failed - duplicates_suppressed;
  }

 private:
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Code::kInternal) + 1> error_lines_{};
};

}  // namespace sluice::observe
