#include "store/write_ahead_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/wal_record.h"

namespace sluice::store {
namespace fs = std::filesystem;
namespace {

std::string segment_path(const std::string& dir, std::uint64_t id) {
  return (fs::path(dir) / fmt::format("wal-{:010}.log", id)).string();
}

Status errno_status(const std::string& what) {
  return Status(Code::kIo, fmt::format("{}: {}", what, std::strerror(errno)));
}

Status write_fully(int fd, std::span<const std::uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("WAL write");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return Status::ok();
}

Result<std::vector<std::uint8_t>> read_whole(const std::string& path) {
  net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_status("open " + path);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno_status("stat " + path);
  std::vector<std::uint8_t> data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::pread(fd.get(), data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n <= 0) return errno_status("read " + path);
    got += static_cast<std::size_t>(n);
  }
  return data;
}

}  // namespace

Result<FsyncPolicy> parse_fsync_policy(const std::string& text) {
  if (text == "always") return FsyncPolicy::kAlways;
  if (text == "interval") return FsyncPolicy::kInterval;
  if (text == "never") return FsyncPolicy::kNever;
  return Status(Code::kInvalidArgument,
                fmt::format("unknown --wal-fsync '{}' (known: always, interval, never)", text));
}

WriteAheadLog::WriteAheadLog(WalOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<WriteAheadLog>> WriteAheadLog::open(const WalOptions& options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec)
    return Status(Code::kIo,
                  fmt::format("cannot create the WAL directory '{}': {}", options.dir, ec.message()));
  auto wal = std::make_unique<WriteAheadLog>(options);
  if (auto st = wal->scan(); !st) return st;
  const std::uint64_t next_id = wal->segments_.empty() ? 1 : wal->segments_.rbegin()->first + 1;
  if (auto st = wal->open_segment(next_id); !st) return st;
  {
    std::vector<std::string> to_unlink;
    std::lock_guard lock(wal->mu_);
    wal->delete_done_prefix(to_unlink);
    for (const auto& p : to_unlink) ::unlink(p.c_str());
  }
  wal->last_sync_ = std::chrono::steady_clock::now();
  wal->writer_ = std::thread([w = wal.get()] { w->writer_loop(); });
  return wal;
}

WriteAheadLog::~WriteAheadLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (active_.valid()) ::fdatasync(active_.get());
}

Status WriteAheadLog::scan() {
  std::vector<std::pair<std::uint64_t, std::string>> files;
  for (const auto& entry : fs::directory_iterator(options_.dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 18 && name.rfind("wal-", 0) == 0 && name.substr(14) == ".log") {
      files.emplace_back(std::stoull(name.substr(4, 10)), entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  std::set<std::uint64_t> done;
  std::map<std::uint64_t, Location> frames;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [id, path] = files[i];
    auto data = read_whole(path);
    if (!data) return data.status();
    Segment seg;
    seg.id = id;
    seg.path = path;
    std::size_t pos = 0;
    while (pos < data->size()) {
      std::size_t used = 0;
      auto record = decode_wal_record(std::span<const std::uint8_t>(*data).subspan(pos), used);
      if (!record) {
        const bool last = i + 1 == files.size();
        spdlog::warn("WAL {}: {} at offset {}; {} the {} bytes after it", path, record.status().message(),
                     pos, last ? "truncating (a write torn by a crash)" : "skipping", data->size() - pos);
        if (last && ::truncate(path.c_str(), static_cast<off_t>(pos)) != 0)
          return errno_status("truncate " + path);
        break;
      }
      if (auto* f = std::get_if<WalFrame>(&*record)) {
        frames[f->lsn] = Location{id, pos, used};
        ++seg.frames;
        seg.min_lsn = std::min(seg.min_lsn, f->lsn);
        seg.max_lsn = std::max(seg.max_lsn, f->lsn);
        next_lsn_ = std::max(next_lsn_, f->lsn + 1);
      } else {
        for (auto lsn : std::get<WalDone>(*record).lsns) done.insert(lsn);
      }
      pos += used;
    }
    seg.bytes = pos;
    segments_[id] = std::move(seg);
  }
  for (const auto& [lsn, where] : frames) {
    if (done.count(lsn)) {
      ++segments_[where.segment].done;
    } else {
      recovery_[lsn] = where;
    }
  }
  if (!files.empty()) {
    spdlog::info("WAL {}: {} segment(s), {} frame(s) logged, {} without a result to process first",
                 options_.dir, files.size(), frames.size(), recovery_.size());
  }
  return Status::ok();
}

Status WriteAheadLog::open_segment(std::uint64_t id) {
  Segment seg;
  seg.id = id;
  seg.path = segment_path(options_.dir, id);
  net::Fd fd(::open(seg.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) return errno_status("open " + seg.path);
  // The new file's name must be durable too, or a crash could lose the whole segment.
  net::Fd dir(::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  active_ = std::move(fd);
  segments_[id] = std::move(seg);
  return Status::ok();
}

Status WriteAheadLog::replay(const std::function<Status(Frame)>& store) {
  std::map<std::uint64_t, Location> todo;
  {
    std::lock_guard lock(mu_);
    todo.swap(recovery_);
  }
  std::uint64_t replayed = 0;
  std::map<std::uint64_t, net::Fd> files;
  std::vector<std::uint8_t> buffer;
  for (const auto& [lsn, where] : todo) {
    auto& fd = files[where.segment];
    if (!fd.valid()) {
      fd.reset(::open(segment_path(options_.dir, where.segment).c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) return errno_status("open WAL segment for replay");
    }
    buffer.resize(where.length);
    if (::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(where.offset)) !=
        static_cast<ssize_t>(buffer.size())) {
      return errno_status("read WAL segment for replay");
    }
    std::size_t used = 0;
    auto record = decode_wal_record(buffer, used);
    if (!record || !std::holds_alternative<WalFrame>(*record)) {
      return Status(Code::kInternal, fmt::format("WAL frame {} changed on disk since the scan", lsn));
    }
    const auto& wf = std::get<WalFrame>(*record);
    Frame frame;
    frame.stream = wf.stream;
    frame.seq = wf.seq;
    frame.name = wf.name;
    frame.payload = Payload(std::vector<std::uint8_t>(wf.payload.begin(), wf.payload.end()));
    frame.pixels = wf.pixels;
    frame.pts_ms = wf.pts_ms;
    if (!wf.origin.empty()) frame.origin = std::make_shared<const std::string>(wf.origin);
    frame.arrival = Clock::now();
    frame.wal_lsn = lsn;
    if (auto st = store(std::move(frame)); !st) return st;
    ++replayed;
  }
  if (replayed) spdlog::info("WAL: replayed {} frame(s) that had no result", replayed);
  return Status::ok();
}

Status WriteAheadLog::append(std::span<Frame> frames) {
  if (frames.empty()) return Status::ok();
  std::unique_lock lock(mu_);
  if (!error_.is_ok()) return error_;
  for (auto& frame : frames) {
    const std::uint64_t lsn = next_lsn_++;
    append_frame_record(frame, lsn, pending_);
    frame.wal_lsn = lsn;
    pending_min_lsn_ = std::min(pending_min_lsn_, lsn);
    pending_max_lsn_ = lsn;
    ++pending_frames_;
  }
  const std::uint64_t ticket = ++enqueued_ticket_;
  work_cv_.notify_one();
  durable_cv_.wait(lock, [&] { return durable_ticket_ >= ticket || !error_.is_ok(); });
  return error_;
}

WriteAheadLog::Segment* WriteAheadLog::segment_of(std::uint64_t lsn) {
  for (auto& [id, seg] : segments_) {
    if (seg.frames > 0 && lsn >= seg.min_lsn && lsn <= seg.max_lsn) return &seg;
  }
  return nullptr;
}

void WriteAheadLog::mark_done(std::span<const std::uint64_t> lsns) {
  if (lsns.empty()) return;
  std::vector<std::string> to_unlink;
  {
    std::lock_guard lock(mu_);
    append_done_record(lsns, pending_);
    for (auto lsn : lsns) {
      if (auto* seg = segment_of(lsn)) ++seg->done;
    }
    delete_done_prefix(to_unlink);
  }
  work_cv_.notify_one();
  for (const auto& p : to_unlink) {
    if (::unlink(p.c_str()) == 0) spdlog::debug("WAL: deleted {} (every frame in it is done)", p);
  }
}

void WriteAheadLog::delete_done_prefix(std::vector<std::string>& to_unlink) {
  // Oldest first, never the active (last) segment: a segment's done records may complete frames
  // of older segments, so it may only go once everything before it has gone.
  while (segments_.size() > 1) {
    auto it = segments_.begin();
    if (it->second.done < it->second.frames) break;
    to_unlink.push_back(it->second.path);
    segments_.erase(it);
  }
}

void WriteAheadLog::writer_loop() {
  std::vector<std::uint8_t> buffer;
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty() && stopping_) break;
    buffer.clear();
    buffer.swap(pending_);
    const std::uint64_t ticket = enqueued_ticket_;
    const std::uint64_t frames = pending_frames_, min_lsn = pending_min_lsn_, max_lsn = pending_max_lsn_;
    pending_frames_ = 0;
    pending_min_lsn_ = UINT64_MAX;
    pending_max_lsn_ = 0;
    const int fd = active_.get();
    lock.unlock();

    Status st = write_fully(fd, buffer);
    const auto now = std::chrono::steady_clock::now();
    const bool sync = options_.fsync == FsyncPolicy::kAlways || (options_.fsync == FsyncPolicy::kInterval &&
                                                                 now - last_sync_ >= options_.fsync_interval);
    if (st && sync) {
      if (::fdatasync(fd) != 0) st = errno_status("WAL fdatasync");
      last_sync_ = now;
    }

    lock.lock();
    auto& active = segments_.rbegin()->second;
    active.bytes += buffer.size();
    if (frames > 0) {
      active.frames += frames;
      active.min_lsn = std::min(active.min_lsn, min_lsn);
      active.max_lsn = std::max(active.max_lsn, max_lsn);
    }
    if (!st) {
      spdlog::error("{}; frames can no longer be accepted", st.to_string());
      error_ = st;
    }
    durable_ticket_ = ticket;
    durable_cv_.notify_all();
    if (st && active.bytes >= options_.segment_bytes) {
      ::fdatasync(fd);
      if (auto rolled = open_segment(active.id + 1); !rolled) error_ = rolled;
    }
  }
}

std::size_t WriteAheadLog::segments() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}

std::uint64_t WriteAheadLog::bytes_on_disk() const {
  std::lock_guard lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [id, seg] : segments_) n += seg.bytes;
  return n;
}

}  // namespace sluice::store
