// BatchInfo and BatchListener: per-batch statistics in Spark Streaming's terms (the listener bus).
#pragma once

#include <chrono>
#include <cstdint>

#include "sluice/frame.h"

namespace sluice::engine {

struct BatchInfo {
  std::uint64_t id = 0;
  Clock::time_point batch_time{};  // when the batch was cut
  std::size_t records = 0;
  std::size_t failed = 0;                         // records that got an error line
  std::size_t blocks = 0;                         // partitions
  std::chrono::microseconds scheduling_delay{0};  // batch time -> first task starts
  std::chrono::microseconds processing_time{0};   // first task starts -> last task ends
  std::chrono::microseconds total_delay{0};       // batch time -> last task ends
  double rate_limit = 0.0;  // records/s the sources are held to after this batch; 0 = unlimited
};

/// Receives every completed batch, from an executor thread. Must be quick and thread-safe.
class BatchListener {
 public:
  virtual ~BatchListener() = default;
  virtual void on_batch_completed(const BatchInfo& info) = 0;
};

}  // namespace sluice::engine
