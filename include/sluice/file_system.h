// FileSystem: the seam every durable write goes through (LevelDB's Env): the write-ahead log,
// the result file, spill files, the stream-id state and the dir source. Tests substitute a
// fault-injecting implementation (tests/support/fault_file_system.h); embedding applications may give their
// own.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sluice/status.h"

namespace sluice::fs {

/// A file open for appending. Not thread-safe: one owner writes it.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  /// Writes all of `data` at the end, or fails. After a failure some prefix of `data` may be on
  /// disk (a short write); size() says how much.
  virtual Status append(std::span<const std::uint8_t> data) = 0;
  /// Hands what append wrote to the kernel (a no-op for unbuffered files; a fault point in tests).
  /// After it returns ok, the bytes survive a crash of this process.
  virtual Status flush() = 0;
  /// fdatasync: after it returns ok, the bytes survive power loss.
  virtual Status sync() = 0;
  /// Cuts the file to `size` bytes (rolling back a failed append) and appends from there.
  virtual Status truncate(std::uint64_t size) = 0;
  /// Bytes in the file, as far as this handle knows.
  virtual std::uint64_t size() const = 0;
};

/// A file open for positional reads. Thread-safe.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  /// Reads exactly `out.size()` bytes at `offset`, or fails.
  virtual Status read_at(std::uint64_t offset, std::span<std::uint8_t> out) const = 0;
};

struct FileInfo {
  bool exists = false;
  bool regular = false;
  bool directory = false;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

enum class OpenMode {
  kTruncate,  // create, or empty an existing file
  kAppend,    // create, or keep what an existing file holds and write after it
};

/// Paths are plain strings. Every method is thread-safe. Errors carry Code::kIo and name the
/// path and the system's reason ("No space left on device").
class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, OpenMode mode) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path) = 0;
  virtual Result<std::vector<std::uint8_t>> read_file(const std::string& path) = 0;
  /// Creates or replaces `path` with `data`, durably: a temporary file, sync, rename, directory sync.
  virtual Status write_file_atomically(const std::string& path, std::span<const std::uint8_t> data);
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Status truncate(const std::string& path, std::uint64_t size) = 0;
  /// Makes the directory's entries (created, renamed, removed files) durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Status create_dirs(const std::string& dir) = 0;
  /// Names (not paths) of the entries of `dir`, unsorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  virtual FileInfo stat(const std::string& path) = 0;

  /// The real file system.
  static FileSystem& posix();
};

/// The directory part of `path` ("." for a bare name).
std::string parent_dir(const std::string& path);

}  // namespace sluice::fs
