// Sink: where result lines go. The pipeline's committer is its only caller (one thread).
#pragma once

#include <span>

#include "sink/result_record.h"
#include "sluice/status.h"

namespace sluice::sink {

/// How durable a delivery must be before it counts as done.
enum class Durability {
  kFlushed,  // handed to the OS: survives a crash of this process
  kSynced,   // fsynced: survives power loss
};

class Sink {
 public:
  virtual ~Sink() = default;
  /// Adds one line per record to the delivery in progress. A deduplicating sink sets `duplicate`
  /// on records whose (stream, seq) already has a line, and adds none for them. Nothing is
  /// written for good until commit() succeeds.
  virtual Status write(std::span<ResultRecord> records) = 0;
  /// Makes everything written since the last commit durable at `durability`, all or nothing. On
  /// failure the delivery is rolled back as far as the sink can, and nothing of it counts as
  /// written: the caller writes the same records again later.
  virtual Status commit(Durability durability) = 0;
  /// Bytes the sink holds in memory that grow with the stream (a dedup index), for the budget.
  virtual std::size_t memory_bytes() const { return 0; }
  /// A stream that can get no more lines: what the sink keeps for it goes (the committer's thread).
  virtual void forget_stream(std::uint64_t /*stream*/) {}
};

}  // namespace sluice::sink
