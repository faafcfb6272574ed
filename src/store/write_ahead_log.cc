#include "store/write_ahead_log.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "store/wal_record.h"

namespace sluice::store {
namespace {

constexpr std::string_view kCorruptSuffix = ".corrupt";

std::string segment_path(const std::string& dir, std::uint64_t id) {
  return fmt::format("{}/wal-{:010}.log", dir, id);
}

// wal-0000000012.log -> 12; 0 when the name is not a segment's.
std::uint64_t segment_id(const std::string& name) {
  if (name.size() != 18 || name.rfind("wal-", 0) != 0 || name.substr(14) != ".log") return 0;
  std::uint64_t id = 0;
  for (char c : name.substr(4, 10)) {
    if (c < '0' || c > '9') return 0;
    id = id * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return id;
}

// The next position at or after `from` where a record decodes that could follow a record with
// `last_lsn` (a frame with a higher lsn, or a done record). Payload bytes that happen to look
// like a record are the risk; the lsn rule makes a torn tail unlikely to be mistaken for data.
std::optional<std::size_t> resync(std::span<const std::uint8_t> data, std::size_t from,
                                  std::uint64_t last_lsn) {
  for (std::size_t p = from; p + kWalRecordHeaderBytes <= data.size(); ++p) {
    std::size_t used = 0;
    auto record = decode_wal_record(data.subspan(p), used);
    if (!record) continue;
    if (const auto* f = std::get_if<WalFrame>(&*record); f != nullptr && f->lsn <= last_lsn) continue;
    return p;
  }
  return std::nullopt;
}

}  // namespace

Result<FsyncPolicy> parse_fsync_policy(const std::string& text) {
  if (text == "always") return FsyncPolicy::kAlways;
  if (text == "interval") return FsyncPolicy::kInterval;
  if (text == "never") return FsyncPolicy::kNever;
  return Status(Code::kInvalidArgument,
                fmt::format("unknown fsync policy '{}' (known: always, interval, never)", text));
}

const char* fsync_policy_name(FsyncPolicy policy) {
  switch (policy) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kInterval:
      return "interval";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "?";
}

WriteAheadLog::WriteAheadLog(WalOptions options)
    : options_(std::move(options)), fs_(options_.fs != nullptr ? *options_.fs : fs::FileSystem::posix()) {}

Result<std::unique_ptr<WriteAheadLog>> WriteAheadLog::open(const WalOptions& options) {
  auto wal = std::make_unique<WriteAheadLog>(options);
  if (auto st = wal->fs_.create_dirs(options.dir); !st) {
    return Status(Code::kIo, fmt::format("the write-ahead log directory: {}", st.message()));
  }
  {
    MutexLock lock(wal->mu_);  // nothing else runs yet; the lock is for the analysis's sake
    if (auto st = wal->scan(); !st) return st;
  }
  wal->last_sync_ = std::chrono::steady_clock::now();
  wal->writer_ = std::thread([w = wal.get()] { w->writer_loop(); });
  return wal;
}

WriteAheadLog::~WriteAheadLog() {
  close();
}

void WriteAheadLog::close() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (!writer_.joinable()) return;
  writer_.join();
  if (active_) (void)active_->sync();
}

Status WriteAheadLog::scan_segment(std::uint64_t id, const std::string& path, bool last,
                                   std::unordered_map<std::uint64_t, Location>& frames,
                                   std::unordered_map<std::uint64_t, std::uint64_t>& segment_of,
                                   std::vector<std::uint64_t>& done) {
  auto data = fs_.read_file(path);
  if (!data) return data.status();
  const std::span<const std::uint8_t> bytes(*data);
  Segment seg{id, path, 0, 0, 0};
  bool corrupt = false;
  std::uint64_t last_lsn = 0;
  std::vector<std::uint64_t> seg_lsns;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t used = 0;
    auto record = decode_wal_record(bytes.subspan(pos), used);
    if (record) {
      if (auto* f = std::get_if<WalFrame>(&*record)) {
        frames[f->lsn] = Location{path, pos, used};
        seg_lsns.push_back(f->lsn);
        ++seg.frames;
        last_lsn = std::max(last_lsn, f->lsn);
        next_lsn_ = std::max(next_lsn_, f->lsn + 1);
        if (f->stream < (1ull << 32)) {
          recovery_report_.highest_stream_below_2_32 =
              std::max(recovery_report_.highest_stream_below_2_32, f->stream);
        }
      } else {
        const auto& lsns = std::get<WalDone>(*record).lsns;
        done.insert(done.end(), lsns.begin(), lsns.end());
      }
      pos += used;
      continue;
    }
    if (const auto next = resync(bytes, pos + 1, last_lsn)) {
      spdlog::error(
          "WAL {}: {} at offset {}; {} bytes up to offset {} cannot be read, the valid records after them "
          "are kept",
          path, record.status().message(), pos, *next - pos, *next);
      recovery_report_.unreadable_bytes += *next - pos;
      corrupt = true;
      pos = *next;
      continue;
    }
    if (last) {
      spdlog::warn("WAL {}: {} at offset {}; cutting the {} bytes after it (a write torn by a crash)", path,
                   record.status().message(), pos, bytes.size() - pos);
      recovery_report_.torn_tail_bytes += bytes.size() - pos;
      if (auto st = fs_.truncate(path, pos); !st) return st;
    } else {
      spdlog::error(
          "WAL {}: {} at offset {}, in a segment that was complete; its last {} bytes cannot be read", path,
          record.status().message(), pos, bytes.size() - pos);
      recovery_report_.unreadable_bytes += bytes.size() - pos;
      corrupt = true;
    }
    break;
  }
  seg.bytes = pos;
  ++recovery_report_.segments;
  if (corrupt) {
    recovery_report_.corrupt_segments.push_back(path);
    for (auto lsn : seg_lsns) segment_of[lsn] = 0;  // 0: in no live segment; relogged by scan()
  } else {
    for (auto lsn : seg_lsns) segment_of[lsn] = id;
    segments_[id] = std::move(seg);
  }
  return Status::ok();
}

Status WriteAheadLog::scan() {
  auto names = fs_.list_dir(options_.dir);
  if (!names) return names.status();
  std::vector<std::uint64_t> ids;
  for (const auto& name : *names) {
    if (const auto id = segment_id(name)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  std::unordered_map<std::uint64_t, Location> frames;
  std::unordered_map<std::uint64_t, std::uint64_t> segment_of;
  std::vector<std::uint64_t> done_list;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (auto st = scan_segment(ids[i], segment_path(options_.dir, ids[i]), i + 1 == ids.size(), frames,
                               segment_of, done_list);
        !st) {
      return st;
    }
  }
  std::sort(done_list.begin(), done_list.end());
  const auto is_done = [&](std::uint64_t lsn) {
    return std::binary_search(done_list.begin(), done_list.end(), lsn);
  };
  std::vector<std::uint64_t> relog;
  for (const auto& [lsn, where] : frames) {
    const std::uint64_t seg = segment_of[lsn];
    if (is_done(lsn)) {
      if (seg != 0) ++segments_[seg].done;
      continue;
    }
    recovery_[lsn] = where;
    if (seg != 0) {
      live_[lsn] = seg;
    } else {
      relog.push_back(lsn);
    }
  }
  recovery_report_.frames = frames.size();
  recovery_report_.pending = recovery_.size();

  const std::uint64_t next_id = ids.empty() ? 1 : ids.back() + 1;
  if (auto st = open_segment(next_id); !st) return st;
  if (!relog.empty()) {
    // Frames that only a corrupt segment holds are logged again, so the segment can go aside.
    std::sort(relog.begin(), relog.end());
    std::vector<std::uint8_t> buffer;
    for (auto lsn : relog) {
      const auto& where = recovery_.at(lsn);
      auto file = fs_.open_readable(where.path);
      if (!file) return file.status();
      std::vector<std::uint8_t> record(where.length);
      if (auto st = (*file)->read_at(where.offset, record); !st) return st;
      buffer.insert(buffer.end(), record.begin(), record.end());
      live_[lsn] = next_id;
    }
    if (auto st = active_->append(buffer); !st) return st;
    if (auto st = active_->sync(); !st) return st;
    segments_[next_id].frames += relog.size();
    segments_[next_id].bytes += buffer.size();
    spdlog::warn("WAL: {} frame(s) without a result were copied out of corrupt segments", relog.size());
  }
  for (const auto& path : recovery_report_.corrupt_segments) {
    const std::string aside = path + std::string(kCorruptSuffix);
    if (auto st = fs_.rename(path, aside); !st) return st;
    for (auto& [lsn, where] : recovery_) {
      if (where.path == path) where.path = aside;
    }
    spdlog::error(
        "WAL: kept the corrupt segment aside as {} (it is never deleted; inspect it, then delete it)", aside);
  }
  if (!recovery_report_.corrupt_segments.empty()) {
    if (auto st = fs_.sync_dir(options_.dir); !st) return st;
  }
  std::vector<std::string> to_unlink;
  delete_done_prefix(to_unlink);
  remove_segments(to_unlink);
  if (!ids.empty()) {
    spdlog::info("WAL {}: {} segment(s), {} frame(s) logged, {} without a result to process first",
                 options_.dir, ids.size(), frames.size(), recovery_.size());
  }
  return Status::ok();
}

Status WriteAheadLog::open_segment(std::uint64_t id) {
  Segment seg{id, segment_path(options_.dir, id), 0, 0, 0};
  auto file = fs_.open_writable(seg.path, fs::OpenMode::kAppend);
  if (!file) return file.status();
  // The new file's name must be durable too, or a crash could lose the whole segment.
  if (auto st = fs_.sync_dir(options_.dir); !st) return st;
  seg.bytes = (*file)->size();
  active_ = std::move(*file);
  segments_[id] = std::move(seg);
  return Status::ok();
}

std::uint64_t WriteAheadLog::pending_recovery() const {
  MutexLock lock(mu_);
  return recovery_.size();
}

Status WriteAheadLog::replay(const std::function<Status(Frame)>& store) {
  std::map<std::uint64_t, Location> todo;
  {
    MutexLock lock(mu_);
    todo.swap(recovery_);
  }
  std::uint64_t replayed = 0;
  std::map<std::string, std::unique_ptr<fs::ReadableFile>> files;
  std::vector<std::uint8_t> buffer;
  for (const auto& [lsn, where] : todo) {
    auto& file = files[where.path];
    if (!file) {
      auto opened = fs_.open_readable(where.path);
      if (!opened) return opened.status();
      file = std::move(*opened);
    }
    buffer.resize(where.length);
    if (auto st = file->read_at(where.offset, buffer); !st) return st;
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

void WriteAheadLog::append_async(std::vector<Frame> frames, AppendDone done) {
  for (const auto& frame : frames) {
    if (frame.payload.size() > kWalMaxPayloadBytes) {
      done(Status(Code::kLimit,
                  fmt::format("a payload of {} bytes is over the write-ahead log's limit of {} bytes",
                              frame.payload.size(), kWalMaxPayloadBytes)),
           std::move(frames));
      return;
    }
  }
  mu_.lock();
  if (stopping_) {
    mu_.unlock();
    done(Status(Code::kClosed, "the write-ahead log is closing"), std::move(frames));
    return;
  }
  if (!frames.empty()) pending_lsns_.emplace_back(next_lsn_, frames.size());
  for (auto& frame : frames) {
    const std::uint64_t lsn = next_lsn_++;
    append_frame_record(frame, lsn, pending_);
    frame.wal_lsn = lsn;
  }
  waiters_.push_back(Waiter{std::move(frames), std::move(done)});
  ++appends_;
  mu_.unlock();
  work_cv_.notify_one();
}

bool WriteAheadLog::drain(std::chrono::steady_clock::time_point deadline) {
  MutexLock lock(mu_);
  const std::uint64_t target = appends_;
  return durable_cv_.wait_until(mu_, deadline, [&]() REQUIRES(mu_) { return completed_ >= target; });
}

Status WriteAheadLog::append(std::span<Frame> frames) {
  if (frames.empty()) return Status::ok();
  std::vector<Frame> moved(std::make_move_iterator(frames.begin()), std::make_move_iterator(frames.end()));
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  Status result;
  append_async(std::move(moved), [&](Status st, std::vector<Frame> back) {
    std::lock_guard lock(m);
    for (std::size_t i = 0; i < back.size(); ++i) frames[i] = std::move(back[i]);
    result = std::move(st);
    finished = true;
    cv.notify_all();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return finished; });
  return result;
}

void WriteAheadLog::mark_done(std::span<const std::uint64_t> lsns) {
  if (lsns.empty()) return;
  std::vector<std::string> to_unlink;
  {
    MutexLock lock(mu_);
    append_done_record(lsns, pending_);
    for (auto lsn : lsns) {
      const auto it = live_.find(lsn);
      if (it == live_.end()) continue;
      if (const auto seg = segments_.find(it->second); seg != segments_.end()) ++seg->second.done;
      live_.erase(it);
    }
    delete_done_prefix(to_unlink);
  }
  work_cv_.notify_one();
  remove_segments(to_unlink);
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

void WriteAheadLog::remove_segments(const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  for (const auto& p : paths) {
    if (auto st = fs_.remove(p); !st) {
      spdlog::warn("WAL: {}", st.message());
    } else {
      spdlog::debug("WAL: deleted {} (every frame in it is done)", p);
    }
  }
  // Made durable so that a power loss cannot bring back a segment whose lines are written.
  if (auto st = fs_.sync_dir(options_.dir); !st) spdlog::warn("WAL: {}", st.message());
}

bool WriteAheadLog::write_durably(const std::vector<std::uint8_t>& buffer, bool sync) {
  const std::uint64_t before = active_->size();
  auto backoff = std::chrono::milliseconds(100);
  for (std::uint64_t attempt = 1;; ++attempt) {
    Status st = active_->append(buffer);
    if (st) st = active_->flush();
    if (st && sync) st = active_->sync();
    if (st) {
      MutexLock lock(mu_);
      if (!healthy_) spdlog::info("WAL: writes succeed again after {} attempt(s)", attempt);
      healthy_ = true;
      return true;
    }
    (void)active_->truncate(before);  // a partial record must not stay in front of the retry
    MutexLock lock(mu_);
    if (healthy_ || attempt % 10 == 0) {
      spdlog::error("WAL: {}; sources wait, and the write is retried every {} ms (free space in {})",
                    st.message(), backoff.count(), options_.dir);
    }
    healthy_ = false;
    last_error_ = st.message();
    // Until the retry, or sooner if a stop deadline set meanwhile comes first.
    const auto planned = std::chrono::steady_clock::now() + backoff;
    while (!stopping_) {
      const auto until = std::min(planned, give_up_at_);
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      work_cv_.wait_once_for(mu_, until - now);
    }
    if (stopping_) return false;
    if (std::chrono::steady_clock::now() >= give_up_at_) {
      spdlog::error("WAL: gave up writing {} bytes at the stop deadline: {}", buffer.size(), st.message());
      return false;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

void WriteAheadLog::give_up_after(std::chrono::steady_clock::time_point deadline) {
  {
    MutexLock lock(mu_);
    give_up_at_ = deadline;
  }
  work_cv_.notify_all();
}

void WriteAheadLog::writer_loop() {
  std::vector<std::uint8_t> buffer;
  std::vector<Waiter> waiters;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> lsns;
  mu_.lock();
  while (true) {
    const auto sync_due = last_sync_ + options_.fsync_interval;
    work_cv_.wait_until(mu_, unsynced_ ? sync_due : std::chrono::steady_clock::time_point::max(),
                        [&]() REQUIRES(mu_) { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) {
      if (stopping_) break;
      if (unsynced_ && std::chrono::steady_clock::now() >= sync_due) {
        mu_.unlock();
        const bool ok = active_->sync().is_ok();
        mu_.lock();
        last_sync_ = std::chrono::steady_clock::now();
        unsynced_ = !ok;
      }
      continue;
    }
    buffer.clear();
    buffer.swap(pending_);
    waiters.swap(waiters_);
    lsns.swap(pending_lsns_);
    mu_.unlock();

    const auto now = std::chrono::steady_clock::now();
    const bool sync = options_.fsync == FsyncPolicy::kAlways || (options_.fsync == FsyncPolicy::kInterval &&
                                                                 now - last_sync_ >= options_.fsync_interval);
    const bool written = write_durably(buffer, sync);

    mu_.lock();
    auto& active = segments_.rbegin()->second;
    if (written) {
      active.bytes += buffer.size();
      for (const auto& [first, count] : lsns) {
        active.frames += count;
        for (std::uint64_t lsn = first; lsn < first + count; ++lsn) live_[lsn] = active.id;
      }
      if (sync) last_sync_ = now;
      unsynced_ = options_.fsync == FsyncPolicy::kInterval && !sync;
    }
    lsns.clear();
    // Roll before telling the waiters, so that what they do next (mark frames done) finds the
    // segments as they will stay.
    std::vector<std::string> to_unlink;
    if (written && active.bytes >= options_.segment_bytes) {
      (void)active_->sync();
      if (auto st = open_segment(active.id + 1); !st) {
        spdlog::error("WAL: cannot roll to a new segment: {}; appending to the current one", st.message());
      }
      delete_done_prefix(to_unlink);
    }
    mu_.unlock();
    remove_segments(to_unlink);
    const Status outcome =
        written ? Status::ok()
                : Status(Code::kClosed, "the write-ahead log closed before these frames were logged");
    for (auto& w : waiters) w.done(outcome, std::move(w.frames));
    mu_.lock();
    completed_ += waiters.size();
    waiters.clear();
    durable_cv_.notify_all();
  }
  mu_.unlock();
}

std::size_t WriteAheadLog::segments() const {
  MutexLock lock(mu_);
  return segments_.size();
}

std::uint64_t WriteAheadLog::bytes_on_disk() const {
  MutexLock lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [id, seg] : segments_) n += seg.bytes;
  return n;
}

bool WriteAheadLog::healthy() const {
  MutexLock lock(mu_);
  return healthy_;
}

std::string WriteAheadLog::last_error() const {
  MutexLock lock(mu_);
  return last_error_;
}

}  // namespace sluice::store
