// WriteAheadLog: every accepted frame is appended durably before it is admitted; frames whose
// result lines are durable are recorded as done; after a crash the frames without a completion
// are processed again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sluice/file_system.h"
#include "sluice/frame.h"
#include "sluice/pipeline_config.h"
#include "sluice/status.h"
#include "util/mutex.h"

namespace sluice::store {

using FsyncPolicy = sluice::FsyncPolicy;
Result<FsyncPolicy> parse_fsync_policy(const std::string& text);
const char* fsync_policy_name(FsyncPolicy policy);

struct WalOptions {
  std::string dir;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::chrono::milliseconds fsync_interval{100};
  std::size_t segment_bytes = 64u << 20;  // a segment rolls once it is this large
  fs::FileSystem* fs = nullptr;           // nullptr: the real file system
};

/// What open() found on disk.
struct WalRecovery {
  std::uint64_t segments = 0;
  std::uint64_t frames = 0;   // frame records read
  std::uint64_t pending = 0;  // of those, without a completion: replayed first
  /// Segments with records that could not be read, moved aside as wal-N.log.corrupt: never deleted.
  std::vector<std::string> corrupt_segments;
  std::uint64_t unreadable_bytes = 0;  // bytes skipped inside them
  std::uint64_t torn_tail_bytes = 0;   // a last write cut by a crash, truncated
  std::uint64_t highest_stream_below_2_32 = 0;
};

/// Thread-safe. Appends from every thread are group-committed by one writer thread: one write
/// and one fdatasync for everything that queued meanwhile. Segments are named wal-NNN.log; a
/// segment is deleted once it and every older segment hold only completed frames. A failed
/// write is cut back and retried with backoff: appends then wait (sources stop) rather than fail.
class WriteAheadLog {
 public:
  /// Opens (creating) the directory, scans existing segments for frames without a completion
  /// (a torn tail is cut; corruption inside a segment is skipped, reported and kept aside), and
  /// starts the writer.
  static Result<std::unique_ptr<WriteAheadLog>> open(const WalOptions& options);
  /// close().
  ~WriteAheadLog();
  /// Writes what is queued (done records included) and stops the writer; appends still waiting
  /// for a write that keeps failing get kClosed. Later appends fail; later mark_done calls are
  /// not recorded. Idempotent.
  void close();
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;

  const WalRecovery& recovery() const { return recovery_report_; }
  /// Frames found at open() that have no completion record and are not replayed yet.
  std::uint64_t pending_recovery() const;
  /// Hands every frame found at open() without a completion to `store`, oldest first, with its
  /// wal_lsn set (so it is not logged again). Stops at the first error `store` returns.
  Status replay(const std::function<Status(Frame)>& store);

  using AppendDone = std::function<void(Status, std::vector<Frame>)>;
  /// Logs `frames` (setting each wal_lsn) without waiting. `done` runs on the writer thread once
  /// they are durable under the fsync policy, in the order of the append calls; it gets an error
  /// only when the log closes first. Payloads larger than kWalMaxPayloadBytes fail at once.
  void append_async(std::vector<Frame> frames, AppendDone done);
  /// Logs `frames` and waits until they are durable.
  Status append(std::span<Frame> frames);
  /// Returns true once every append made before the call is durable and its `done` has run;
  /// false if that has not happened by `deadline` (writes keep failing).
  bool drain(std::chrono::steady_clock::time_point deadline);
  /// Records that these frames' result lines are durable. Does not wait.
  void mark_done(std::span<const std::uint64_t> lsns);
  /// A failing write is retried until `deadline` only; then it is dropped and the appends it held
  /// fail with kClosed (a stopping pipeline does not wait longer for a log it cannot write). A
  /// completion record dropped so only makes its frames replay once more.
  void give_up_after(std::chrono::steady_clock::time_point deadline);

  std::size_t segments() const;
  std::uint64_t bytes_on_disk() const;
  /// False while writes fail (and are being retried).
  bool healthy() const;
  std::string last_error() const;

  explicit WriteAheadLog(WalOptions options);

 private:
  struct Segment {
    std::uint64_t id = 0;
    std::string path;
    std::uint64_t frames = 0;
    std::uint64_t done = 0;
    std::uint64_t bytes = 0;
  };
  struct Location {
    std::string path;
    std::uint64_t offset;
    std::uint64_t length;
  };
  struct Waiter {
    std::vector<Frame> frames;
    AppendDone done;
  };

  Status scan() REQUIRES(mu_);
  Status scan_segment(std::uint64_t id, const std::string& path, bool last,
                      std::unordered_map<std::uint64_t, Location>& frames,
                      std::unordered_map<std::uint64_t, std::uint64_t>& segment_of,
                      std::vector<std::uint64_t>& done) REQUIRES(mu_);
  Status open_segment(std::uint64_t id) REQUIRES(mu_);
  void writer_loop();
  /// Writes and syncs `buffer` into the active segment, retrying with backoff; false if stopping.
  bool write_durably(const std::vector<std::uint8_t>& buffer, bool sync);
  void delete_done_prefix(std::vector<std::string>& to_unlink) REQUIRES(mu_);
  void remove_segments(const std::vector<std::string>& paths);

  WalOptions options_;
  fs::FileSystem& fs_;
  WalRecovery recovery_report_;
  mutable Mutex mu_;
  CondVar work_cv_;
  CondVar durable_cv_;
  // by id, oldest first; the last one is active
  std::map<std::uint64_t, Segment> segments_ GUARDED_BY(mu_);
  // lsn -> segment id, for frames not done
  std::unordered_map<std::uint64_t, std::uint64_t> live_ GUARDED_BY(mu_);
  std::unique_ptr<fs::WritableFile> active_;  // open() and then the writer thread only
  std::vector<std::uint8_t> pending_ GUARDED_BY(mu_);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> pending_lsns_ GUARDED_BY(mu_);  // (first, count) runs
  std::vector<Waiter> waiters_ GUARDED_BY(mu_);
  std::uint64_t appends_ GUARDED_BY(mu_) = 0;    // append_async calls queued so far
  std::uint64_t completed_ GUARDED_BY(mu_) = 0;  // of those, whose `done` has run
  std::uint64_t next_lsn_ GUARDED_BY(mu_) = 1;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point give_up_at_ GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point::max();
  bool healthy_ GUARDED_BY(mu_) = true;
  bool unsynced_ GUARDED_BY(mu_) = false;
  std::string last_error_ GUARDED_BY(mu_);
  std::map<std::uint64_t, Location> recovery_ GUARDED_BY(mu_);  // lsn -> where the frame is, for replay
  std::chrono::steady_clock::time_point last_sync_{};           // open() and then the writer thread only
  std::thread writer_;
};

}  // namespace sluice::store
