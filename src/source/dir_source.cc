#include "source/dir_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::source {
namespace stdfs = std::filesystem;
namespace {
constexpr std::size_t kNameBytes = 28;  // the wire format's name field
constexpr std::uint32_t kWatchMask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

Status io_error(const std::string& what) {
  return Status(Code::kIo, fmt::format("{}: {}", what, std::strerror(errno)));
}
}  // namespace

DirSource::~DirSource() {
  stop();
}

std::string DirSource::name() const {
  return fmt::format("dir {}", options_.directory.string());
}

std::size_t DirSource::pending() const {
  MutexLock lock(mu_);
  return pending_.size();
}

Status DirSource::start(FrameSink& sink) {
  if (thread_.joinable()) return Status(Code::kInternal, "already started");
  std::error_code ec;
  if (!stdfs::is_directory(options_.directory, ec)) {
    return Status(Code::kIo, fmt::format("'{}' is not a directory", options_.directory.string()));
  }
  if (!options_.done_dir.empty()) {
    if (auto st = fs_.create_dirs(options_.done_dir.string()); !st) return st;
    if (stdfs::equivalent(options_.done_dir, options_.directory, ec)) {
      return Status(Code::kInvalidArgument, "the done directory must not be the watched directory");
    }
  }
  inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_.valid()) return io_error("inotify_init1");
  if (inotify_add_watch(inotify_.get(), options_.directory.c_str(), kWatchMask) < 0) {
    return io_error(fmt::format("cannot watch '{}'", options_.directory.string()));
  }
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_.valid()) return io_error("eventfd");
  sink_ = &sink;
  auto stream = sink.open_stream(options_.directory.string());
  if (!stream) return stream.status();
  stream_ = *stream;
  seq_ = 0;
  stopping_ = false;
  // After a restart, always rescan: files may have arrived while the source was down.
  const bool scan_first = options_.existing || started_once_;
  started_once_ = true;
  spdlog::info("{}: watching; done files are {}", name(),
               !options_.done_dir.empty() ? fmt::format("moved to {}", options_.done_dir.string())
               : options_.remove_done     ? std::string("deleted")
                                          : std::string("kept"));
  thread_ = std::thread([this, scan_first] { run(scan_first); });
  return Status::ok();
}

void DirSource::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
  sink_->close_stream(stream_, Status::ok());
  inotify_.reset();
  wake_.reset();
}

void DirSource::run(bool scan_first) {
  if (scan_first && !scan()) return;
  // inotify_event records are variable-length and must be read into aligned memory.
  alignas(inotify_event) std::array<char, 64 * 1024> buffer{};
  while (!stopping_) {
    std::array<pollfd, 2> fds{pollfd{inotify_.get(), POLLIN, 0}, pollfd{wake_.get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      sink_->request_restart(io_error("poll"));
      return;
    }
    if (stopping_) return;
    const ssize_t n = ::read(inotify_.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      sink_->request_restart(io_error("reading inotify events"));
      return;
    }
    for (ssize_t at = 0; at < n && !stopping_;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      if ((event->mask & IN_Q_OVERFLOW) != 0) {
        spdlog::warn("{}: the inotify queue overflowed; rescanning the directory", name());
        if (!scan()) return;
        continue;
      }
      if ((event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0) {
        sink_->request_restart(Status(Code::kIo, "the watched directory was removed or moved"));
        return;
      }
      if ((event->mask & IN_ISDIR) != 0 || event->len == 0) continue;
      if ((event->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0 && !process(event->name, /*from_event=*/true))
        return;
    }
  }
}

bool DirSource::scan() {
  std::vector<std::string> names;
  if (auto listed = fs_.list_dir(options_.directory.string())) {
    names = std::move(*listed);
  } else {
    sink_->report_error(listed.status());
  }
  std::sort(names.begin(), names.end());
  for (const auto& file : names) {
    if (stopping_ || !process(file, /*from_event=*/false)) return false;
  }
  return true;
}

bool DirSource::process(const std::string& file_name, bool from_event) {
  if (file_name.empty() || file_name.front() == '.') return true;  // hidden: being written
  const std::string path = (options_.directory / file_name).string();
  const auto info = fs_.stat(path);
  if (!info.exists) {
    spdlog::debug("{}: '{}' went away before it was read", name(), file_name);
    return true;
  }
  if (!info.regular) return true;
  const Seen seen{info.mtime_ns, info.size};
  const bool keep_files = options_.done_dir.empty() && !options_.remove_done;
  {
    MutexLock lock(mu_);
    const auto in_flight = in_flight_.find(file_name);
    // A scan skips anything in flight; an event only the very version already stored.
    if (in_flight != in_flight_.end() && (!from_event || in_flight->second.seen == seen)) return true;
    if (keep_files && !from_event) {
      const auto done = processed_.find(file_name);
      if (done != processed_.end() && done->second == seen) return true;
    }
  }
  if (seen.size > options_.max_file_bytes) {
    sink_->report_error(
        Status(Code::kLimit, fmt::format("'{}' is {} bytes, over the {}-byte frame limit; skipped", file_name,
                                         seen.size, options_.max_file_bytes)));
    MutexLock lock(mu_);
    processed_[file_name] = seen;  // reported once, not at every rescan
    return true;
  }
  auto read = fs_.read_file(path);
  if (!read) {
    if (!fs_.stat(path).exists) {
      spdlog::debug("{}: '{}' went away before it was read", name(), file_name);
    } else {
      sink_->report_error(read.status());
    }
    return true;
  }
  std::vector<std::uint8_t> bytes = std::move(*read);
  Frame frame;
  frame.stream = stream_;
  frame.seq = seq_++;
  frame.name = file_name.substr(0, kNameBytes);
  frame.payload = Payload(std::move(bytes));
  frame.arrival = Clock::now();
  {
    MutexLock lock(mu_);
    frame.token = next_token_++;
    pending_.emplace(frame.token, file_name);
    auto& entry = in_flight_[file_name];
    entry.seen = seen;
    ++entry.count;
    if (keep_files) processed_[file_name] = seen;
  }
  const std::uint64_t token = frame.token;
  if (auto st = sink_->store(std::move(frame)); !st) {
    MutexLock lock(mu_);
    pending_.erase(token);
    if (auto it = in_flight_.find(file_name); it != in_flight_.end() && --it->second.count == 0)
      in_flight_.erase(it);
    if (keep_files) processed_.erase(file_name);  // not taken: offer it again next time
    return false;
  }
  return true;
}

void DirSource::on_frames_done(std::span<const Frame> frames) {
  for (const auto& frame : frames) {
    std::string file_name;
    {
      MutexLock lock(mu_);
      const auto it = pending_.find(frame.token);
      if (it == pending_.end()) continue;
      file_name = std::move(it->second);
      pending_.erase(it);
      if (auto f = in_flight_.find(file_name); f != in_flight_.end() && --f->second.count == 0)
        in_flight_.erase(f);
    }
    finish(options_.directory / file_name);
  }
}

void DirSource::finish(const stdfs::path& path) {
  // Runs only once the file's line is durable: a crash before this leaves the file in place
  // (it is read again: a duplicate line, never a lost one).
  Status st;
  if (options_.remove_done) {
    st = fs_.remove(path.string());
    if (st) st = fs_.sync_dir(options_.directory.string());
  } else if (!options_.done_dir.empty()) {
    const std::string to = (options_.done_dir / path.filename()).string();
    st = fs_.rename(path.string(), to);
    if (!st && fs_.stat(path.string()).exists) {
      // Another file system (EXDEV): copy durably, then delete.
      auto bytes = fs_.read_file(path.string());
      st = bytes ? fs_.write_file_atomically(to, *bytes) : bytes.status();
      if (st) st = fs_.remove(path.string());
    }
    if (st) st = fs_.sync_dir(options_.done_dir.string());
    if (st) st = fs_.sync_dir(options_.directory.string());
  } else {
    return;
  }
  // Already gone: a newer copy of the same name was finished first.
  if (!st && fs_.stat(path.string()).exists) {
    spdlog::warn("{}: cannot {} '{}': {}", name(), options_.remove_done ? "delete" : "move", path.string(),
                 st.message());
  }
}

}  // namespace sluice::source
