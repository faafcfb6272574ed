// Sink: where results go. Called concurrently by executors.
#pragma once

#include <span>

#include "sink/result_record.h"
#include "sluice/status.h"

namespace sluice::sink {

class Sink {
 public:
  virtual ~Sink() = default;
  /// Writes one record per frame. Must be thread-safe. A failed write is reported, never dropped
  /// silently: the caller counts and logs it.
  virtual Status write(std::span<const ResultRecord> records) = 0;
  /// Pushes buffered output to its destination (called after every batch and at shutdown).
  virtual Status flush() = 0;
};

}  // namespace sluice::sink
