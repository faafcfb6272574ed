// WriteAheadLog: every accepted frame is appended durably before it is acknowledged; completed
// frames are recorded; after a crash the frames without a completion are processed again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "net/socket.h"
#include "sluice/frame.h"
#include "sluice/status.h"

namespace sluice::store {

enum class FsyncPolicy {
  kAlways,    // fdatasync after every group commit: survives power loss
  kInterval,  // fdatasync at most every fsync_interval: survives a process crash, not power loss
  kNever,     // leave it to the OS: survives a process crash
};
Result<FsyncPolicy> parse_fsync_policy(const std::string& text);

struct WalOptions {
  std::string dir;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::chrono::milliseconds fsync_interval{100};
  std::size_t segment_bytes = 64u << 20;  // a segment rolls once it is this large
};

/// Thread-safe. Appends from many threads are group-committed by one writer thread: one write
/// and one fdatasync for everything that queued meanwhile. Segments are named wal-NNN.log; a
/// segment is deleted once it and every older segment hold only completed frames.
class WriteAheadLog {
 public:
  /// Opens (creating) the directory, scans existing segments for frames without a completion,
  /// truncates a torn tail, and starts the writer.
  static Result<std::unique_ptr<WriteAheadLog>> open(const WalOptions& options);
  ~WriteAheadLog();
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;

  /// Frames found at open() that have no completion record.
  std::uint64_t pending_recovery() const { return recovery_.size(); }
  /// Hands every frame found at open() without a completion to `store`, oldest first, with its
  /// wal_lsn set (so it is not logged again). Stops at the first error `store` returns.
  Status replay(const std::function<Status(Frame)>& store);

  /// Logs `frames` (setting each wal_lsn) and returns once they are durable under the fsync
  /// policy. A write error is returned to every waiter and to every later call.
  Status append(std::span<Frame> frames);
  /// Records that these frames' result lines are written. Does not wait.
  void mark_done(std::span<const std::uint64_t> lsns);

  std::size_t segments() const;
  std::uint64_t bytes_on_disk() const;

  struct Segment {
    std::uint64_t id = 0;
    std::string path;
    std::uint64_t frames = 0;
    std::uint64_t done = 0;
    std::uint64_t min_lsn = UINT64_MAX;
    std::uint64_t max_lsn = 0;
    std::uint64_t bytes = 0;
  };
  struct Location {
    std::uint64_t segment;
    std::uint64_t offset;
    std::uint64_t length;
  };
  explicit WriteAheadLog(WalOptions options);

 private:
  Status scan();
  Status open_segment(std::uint64_t id);
  void writer_loop();
  void delete_done_prefix(std::vector<std::string>& to_unlink);  // requires mu_
  Segment* segment_of(std::uint64_t lsn);                        // requires mu_

  WalOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable durable_cv_;
  std::map<std::uint64_t, Segment> segments_;  // by id, oldest first; the last one is active
  net::Fd active_;
  std::vector<std::uint8_t> pending_;
  std::uint64_t pending_frames_ = 0;
  std::uint64_t pending_min_lsn_ = UINT64_MAX;
  std::uint64_t pending_max_lsn_ = 0;
  std::uint64_t next_lsn_ = 1;
  std::uint64_t enqueued_ticket_ = 0;
  std::uint64_t durable_ticket_ = 0;
  Status error_;
  bool stopping_ = false;
  std::map<std::uint64_t, Location> recovery_;  // lsn -> where the frame is, for replay
  std::chrono::steady_clock::time_point last_sync_{};
  std::thread writer_;
};

}  // namespace sluice::store
