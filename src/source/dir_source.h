// DirSource (dir): watches a directory with inotify; every file that appears is one frame.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>

#include "net/socket.h"
#include "sluice/file_system.h"
#include "source/source.h"
#include "util/mutex.h"
#include "wire/frame_codec.h"

namespace sluice::source {

struct DirSourceOptions {
  std::filesystem::path directory;
  /// After a file's result line is written: move it into this directory (created at start)...
  std::filesystem::path done_dir;
  /// ...or delete it. With neither, files stay, and each is processed once per sluice run.
  bool remove_done = false;
  /// Process the files already there at start (in name order) before watching for new ones.
  bool existing = true;
  std::size_t max_file_bytes = wire::kDefaultMaxFrameBytes;
  /// Where files are read, moved and deleted; nullptr: the real file system.
  fs::FileSystem* file_system = nullptr;
};

/// One thread reads inotify events: a file counts as complete when it is closed after writing
/// (IN_CLOSE_WRITE) or moved in (IN_MOVED_TO), so writers may write in place or write a hidden
/// ".name" file and rename it. Hidden files, directories and other non-regular files are skipped.
/// The whole directory is one stream; a frame's name is its file name cut to 28 bytes. Frames
/// carry a token so on_frames_done can find the file to move or delete. If the directory itself
/// goes away the source asks its supervisor for a restart; an inotify queue overflow rescans.
class DirSource final : public Source {
 public:
  explicit DirSource(DirSourceOptions options)
      : options_(std::move(options)),
        fs_(options_.file_system != nullptr ? *options_.file_system : fs::FileSystem::posix()) {}
  ~DirSource() override;
  DirSource(const DirSource&) = delete;
  DirSource& operator=(const DirSource&) = delete;

  std::string name() const override;
  Status start(FrameSink& sink) override;
  void stop() override;
  /// Moves or deletes the files whose result lines are durable (the commit thread).
  void on_frames_done(std::span<const Frame> frames) override;

  /// Files stored whose result lines are not written yet.
  std::size_t pending() const;

 private:
  struct Seen {
    std::int64_t mtime_ns = 0;
    std::uintmax_t size = 0;
    bool operator==(const Seen&) const = default;
  };
  void run(bool scan_first);
  /// Stores every eligible file in name order; returns false when the pipeline is stopping.
  bool scan();
  /// Reads and stores one file; returns false when the pipeline is stopping.
  bool process(const std::string& file_name, bool from_event);
  void finish(const std::filesystem::path& path);

  DirSourceOptions options_;
  fs::FileSystem& fs_;
  FrameSink* sink_ = nullptr;
  net::Fd inotify_, wake_;
  std::atomic<bool> stopping_{false};
  std::uint64_t stream_ = 0;
  std::uint64_t seq_ = 0;  // source thread only
  bool started_once_ = false;
  std::thread thread_;

  struct InFlight {
    Seen seen;      // the version stored last
    int count = 0;  // frames of this name without a result line yet
  };
  mutable Mutex mu_;
  std::unordered_map<std::uint64_t, std::string> pending_ GUARDED_BY(mu_);  // token -> file name, until done
  std::map<std::string, InFlight> in_flight_ GUARDED_BY(mu_);
  std::uint64_t next_token_ GUARDED_BY(mu_) = 1;
  std::map<std::string, Seen> processed_ GUARDED_BY(mu_);  // without done/delete: what was already stored
};

}  // namespace sluice::source
