// FaultFileSystem: a FileSystem over the real one that fails on command and simulates power loss,
// as LevelDB's FaultInjectionTestEnv does.
//
// Faults come from rules: an operation, a path substring, how many matching calls succeed first,
// and how many then fail (or until the rule is cleared). A failure is ENOSPC or EIO (the Status
// names the path and carries strerror's text), a short write (half the bytes reach the file, then
// ENOSPC), or a crash.
//
// Power loss: the file system keeps, for every file it touched, the size that was fsynced, and
// for every creation, rename and unlink whether its directory was fsynced since. crash() freezes
// it: every later call fails and nothing more reaches the disk (the process "died"). power_loss()
// then leaves on disk only what a power cut would: unsynced directory operations are undone
// (newest first: a renamed file goes back, an unlinked one comes back, a created one goes away)
// and every file is cut to its synced size. After power_loss() the file system is up again, as
// after a reboot: everything on disk counts as durable.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/file_system.h"

namespace sluice::test {

class FaultFileSystem final : public fs::FileSystem {
 public:
  enum class Op { kAppend, kFlush, kSync, kRename, kRemove, kTruncate, kSyncDir, kOpen };
  enum class Fault {
    kNoSpace,     // ENOSPC, nothing written
    kIoError,     // EIO, nothing written
    kShortWrite,  // append only: the first half of the bytes are written, then ENOSPC
    kCrash,       // the call does not happen and the file system crashes (see crash())
    kCrashAfter,  // the call happens, then the file system crashes
  };
  static constexpr std::uint64_t kUntilCleared = std::numeric_limits<std::uint64_t>::max();

  struct Rule {
    Op op = Op::kAppend;
    std::string path;  // a substring of the path (either path of a rename); empty: any path
    Fault fault = Fault::kNoSpace;
    std::uint64_t after = 0;              // matching calls that succeed before the first fault
    std::uint64_t times = kUntilCleared;  // faults, then the rule is spent
  };

  /// `trash_dir` holds unlinked files until their unlink is durable (so that a power loss can
  /// bring them back); it must be on the same file system as the files. Created if absent.
  FaultFileSystem(std::string trash_dir, fs::FileSystem& base = fs::FileSystem::posix());
  ~FaultFileSystem() override;

  /// Adds a rule; returns its id.
  int add_rule(Rule rule);
  void clear_rule(int id);
  void clear_rules();
  /// Calls a rule has failed so far.
  std::uint64_t fired(int id) const;
  /// Calls failed by every rule so far.
  std::uint64_t faults() const;
  /// Calls of `op` on a path containing `path` that reached the disk.
  std::uint64_t succeeded(Op op, std::string_view path = {}) const;

  /// Runs after every call that reached the disk, under the file system's lock (so it must be
  /// quick and must not call the file system): for tests that note what was durable when.
  void on_success(std::function<void(Op op, const std::string& path)> hook);

  /// The process "dies": from now on every call fails with EIO and nothing reaches the disk.
  void crash();
  bool crashed() const;
  /// After crash(): drops what was not durable, then the file system is up again (no rules, no
  /// hook, every file on disk durable). Returns a description of what was dropped, for test logs.
  std::string power_loss();
  /// After crash() without a power loss (the OS kept its caches): up again, as for a new process
  /// (no rules, no hook); unsynced data is still at risk of a later power_loss().
  void restart();

  // fs::FileSystem
  Result<std::unique_ptr<fs::WritableFile>> open_writable(const std::string& path,
                                                          fs::OpenMode mode) override;
  Result<std::unique_ptr<fs::ReadableFile>> open_readable(const std::string& path) override;
  Result<std::vector<std::uint8_t>> read_file(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status truncate(const std::string& path, std::uint64_t size) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dirs(const std::string& dir) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  fs::FileInfo stat(const std::string& path) override;

  /// What the file system does with a call (used by its WritableFile).
  struct Decision {
    Status error;              // not ok: fail with it
    bool short_write = false;  // write half, then fail with `error`
    bool crash_after = false;  // do it, then crash
  };

 private:
  friend class FaultWritableFile;
  struct Node {
    std::uint64_t synced_size = 0;  // bytes that survive a power loss
  };
  struct DirOp {
    enum Kind { kCreate, kRename, kUnlink } kind;
    std::string path;                        // created, unlinked, or the rename's target
    std::string from;                        // a rename's source
    std::string trash;                       // an unlinked file (or the file a rename replaced), kept here
    std::shared_ptr<Node> node;              // the unlinked or replaced file's node
    std::vector<std::string> dirs_unsynced;  // durable once each is synced
  };

  // All require mu_.
  Decision decide(Op op, const std::string& path, const std::string& other = {});
  Status frozen_error(const std::string& path) const;
  void count_success(Op op, const std::string& path, const std::string& other = {});
  std::shared_ptr<Node> node_for(const std::string& path, bool* created);
  std::string new_trash_path();
  Status move_file(const std::string& from, const std::string& to);

  struct RuleState {
    Rule rule;
    std::uint64_t seen = 0;
    std::uint64_t fired = 0;
    bool active = true;
  };

  fs::FileSystem& base_;
  std::string trash_dir_;
  mutable std::mutex mu_;
  std::map<int, RuleState> rules_;
  int next_rule_ = 1;
  std::uint64_t faults_ = 0;
  std::map<std::pair<Op, std::string>, std::uint64_t> successes_;
  bool crashed_ = false;
  std::map<std::string, std::shared_ptr<Node>> files_;  // tracked files by normalised path
  std::vector<DirOp> dir_ops_;                          // not yet durable, oldest first
  std::uint64_t next_trash_ = 1;
  std::function<void(Op, const std::string&)> hook_;
};

const char* op_name(FaultFileSystem::Op op);

}  // namespace sluice::test
