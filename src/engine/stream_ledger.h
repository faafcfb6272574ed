// StreamLedger: which streams are still open or have frames in flight, so that what the sink keeps
// per stream (the dedup index) is released once a stream can get no more lines.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "sluice/frame.h"
#include "util/mutex.h"

namespace sluice::engine {

/// Counts each stream's frames between admission and their durable line. A stream is finished when
/// its source closed it and none of its frames is in flight. Only server-numbered streams (ids below
/// 2^32, never reused) are tracked: a protocol-v2 stream keeps its id across reconnects and may
/// re-send, so its dedup record must stay. Thread-safe.
class StreamLedger {
 public:
  /// Frames entered the pipeline (admission's threads).
  void entered(std::span<const Frame> frames);
  /// The source closed the stream (source threads).
  void closed(std::uint64_t stream);
  /// Frames got their durable line (the committer's thread).
  void done(std::span<const Frame> frames);
  /// The streams finished since the last call (the committer takes them after each commit, so a
  /// stream closed after its last line is released at the next commit).
  std::vector<std::uint64_t> take_finished();
  /// Streams with frames in flight now.
  std::size_t tracked() const;

 private:
  struct Entry {
    std::uint64_t in_flight = 0;
    bool closed = false;
  };
  static bool tracked_id(std::uint64_t stream);
  /// Drops a drained entry; a closed one goes to the finished list.
  void finish_if_drained(std::unordered_map<std::uint64_t, Entry>::iterator it) REQUIRES(mu_);

  mutable Mutex mu_;
  std::unordered_map<std::uint64_t, Entry> streams_ GUARDED_BY(mu_);
  std::vector<std::uint64_t> finished_ GUARDED_BY(mu_);
};

}  // namespace sluice::engine
