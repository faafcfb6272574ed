// PipelineMetrics: the counters every part of the pipeline updates. Lock-free on hot paths.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "observe/histogram.h"

namespace sluice::observe {

class PipelineMetrics {
 public:
  std::atomic<std::uint64_t> frames_received{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> frames_succeeded{0};  // a prediction line was written
  std::atomic<std::uint64_t> frames_failed{0};     // an error line was written
  std::atomic<std::uint64_t> streams_opened{0};
  std::atomic<std::uint64_t> streams_failed{0};  // closed by a framing or I/O error
  std::atomic<std::uint64_t> sink_errors{0};
  std::atomic<std::uint64_t> batches_completed{0};
  /// Wall time of each model call (one task of up to --max-batch frames), in seconds.
  Histogram inference_seconds;

  /// Counts one failure under `reason` (a Code name such as "decode" or "framing").
  void count_failure(const std::string& reason);
  std::map<std::string, std::uint64_t> failures() const;

  /// Frames accepted whose result line is not written yet.
  std::uint64_t in_flight() const { return frames_received - frames_succeeded - frames_failed; }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> failures_;
};

}  // namespace sluice::observe
