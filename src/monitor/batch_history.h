// BatchHistory: the listener that keeps the latest completed batches (for /api/batches and the
// dashboard) and the histograms of their times (for /metrics).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "engine/batch_info.h"
#include "observe/histogram.h"
#include "util/mutex.h"

namespace sluice::monitor {

struct BatchRecord {
  engine::BatchInfo info;
  std::chrono::system_clock::time_point wall_time;  // info.batch_time on the wall clock
};

class BatchHistory final : public engine::BatchListener {
 public:
  /// Keeps the latest `capacity` batches (at a 1 s batch interval, 1000 is about 17 minutes).
  explicit BatchHistory(std::size_t capacity = 1000);

  void on_batch_completed(const engine::BatchInfo& info) override;

  /// The latest `n` batches, oldest first.
  std::vector<BatchRecord> latest(std::size_t n) const;
  std::size_t capacity() const { return capacity_; }

  // In seconds, one observation per batch.
  const observe::Histogram& processing_time() const { return processing_time_; }
  const observe::Histogram& scheduling_delay() const { return scheduling_delay_; }
  const observe::Histogram& total_delay() const { return total_delay_; }

 private:
  std::size_t capacity_;
  mutable Mutex mu_;
  std::deque<BatchRecord> batches_ GUARDED_BY(mu_);
  observe::Histogram processing_time_;
  observe::Histogram scheduling_delay_;
  observe::Histogram total_delay_;
};

}  // namespace sluice::monitor
