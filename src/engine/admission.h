// Admission: how frames enter the pipeline. Each source gets a SourcePort, the FrameSink it
// stores into: the source's rate limit, then the memory budget, then the write-ahead log, then
// the source's block generator.
#pragma once

#include <functional>
#include <memory>

#include "engine/block_generator.h"
#include "engine/memory_budget.h"
#include "engine/rate_limiter.h"
#include "engine/stream_id_allocator.h"
#include "engine/stream_ledger.h"
#include "observe/pipeline_metrics.h"
#include "observe/source_stats.h"
#include "source/source.h"
#include "store/write_ahead_log.h"

namespace sluice::engine {

/// What every port shares.
struct AdmissionServices {
  MemoryBudget& budget;
  StreamIdAllocator& stream_ids;
  observe::PipelineMetrics& metrics;
  store::WriteAheadLog* wal = nullptr;
  /// Frames were appended to a block generator (continuous mode may cut a batch).
  std::function<void()> frames_arrived;
  /// Counts each stream's frames in flight, so its sink records go once it is closed and drained.
  StreamLedger* streams = nullptr;
};

class SourcePort final : public source::FrameSink {
 public:
  SourcePort(AdmissionServices services, BlockGenerator& generator, RateLimiter& limiter,
             observe::SourceStats& stats)
      : services_(std::move(services)), generator_(generator), limiter_(limiter), stats_(stats) {}

  Status store_many(std::vector<Frame>& frames) override;
  source::Reservation try_reserve(std::size_t bytes, std::size_t frames = 1) override;
  void unreserve(std::size_t bytes) override { services_.budget.release(bytes); }
  void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) override;
  void set_wake(std::function<void()> wake) override { services_.budget.on_room(std::move(wake)); }
  Result<std::uint64_t> open_stream(std::string_view peer) override;
  void close_stream(std::uint64_t stream, const Status& why) override;
  void report_error(const Status& error) override;
  observe::SourceStats& stats() override { return stats_; }

 private:
  /// Counts the frames and appends them to the generator; their bytes are reserved and, with a
  /// log, they are durable in it.
  void enter(std::vector<Frame>& frames);
  Status too_large(std::size_t bytes) const;

  AdmissionServices services_;
  BlockGenerator& generator_;
  RateLimiter& limiter_;
  observe::SourceStats& stats_;
};

}  // namespace sluice::engine
