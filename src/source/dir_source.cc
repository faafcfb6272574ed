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
namespace fs = std::filesystem;
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
  std::lock_guard lock(mu_);
  return pending_.size();
}

Status DirSource::start(FrameSink& sink) {
  if (thread_.joinable()) return Status(Code::kInternal, "already started");
  std::error_code ec;
  if (!fs::is_directory(options_.directory, ec)) {
    return Status(Code::kIo, fmt::format("'{}' is not a directory", options_.directory.string()));
  }
  if (!options_.done_dir.empty()) {
    fs::create_directories(options_.done_dir, ec);
    if (ec) {
      return Status(Code::kIo, fmt::format("cannot create the done directory '{}': {}",
                                           options_.done_dir.string(), ec.message()));
    }
    if (fs::equivalent(options_.done_dir, options_.directory, ec)) {
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
  stream_ = sink.open_stream(options_.directory.string());
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
  std::error_code ec;
  for (fs::directory_iterator it(options_.directory, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    sink_->report_error(
        Status(Code::kIo, fmt::format("cannot list '{}': {}", options_.directory.string(), ec.message())));
  }
  std::sort(names.begin(), names.end());
  for (const auto& file : names) {
    if (stopping_ || !process(file, /*from_event=*/false)) return false;
  }
  return true;
}

bool DirSource::process(const std::string& file_name, bool from_event) {
  if (file_name.empty() || file_name.front() == '.') return true;  // hidden: being written
  const fs::path path = options_.directory / file_name;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    spdlog::debug("{}: '{}' went away before it was read", name(), file_name);
    return true;
  }
  if (!S_ISREG(st.st_mode)) return true;
  const Seen seen{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                  static_cast<std::uintmax_t>(st.st_size)};
  const bool keep_files = options_.done_dir.empty() && !options_.remove_done;
  {
    std::lock_guard lock(mu_);
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
    std::lock_guard lock(mu_);
    processed_[file_name] = seen;  // reported once, not at every rescan
    return true;
  }
  std::vector<std::uint8_t> bytes(seen.size);
  {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      spdlog::debug("{}: '{}' went away before it was read", name(), file_name);
      return true;
    }
    std::size_t got = 0;
    while (got < bytes.size()) {
      const ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        sink_->report_error(io_error(fmt::format("reading '{}'", file_name)));
        return true;
      }
      if (n == 0) break;  // truncated meanwhile: take what is there
      got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
  }
  Frame frame;
  frame.stream = stream_;
  frame.seq = seq_++;
  frame.name = file_name.substr(0, kNameBytes);
  frame.payload = Payload(std::move(bytes));
  frame.arrival = Clock::now();
  {
    std::lock_guard lock(mu_);
    frame.token = next_token_++;
    pending_.emplace(frame.token, file_name);
    auto& entry = in_flight_[file_name];
    entry.seen = seen;
    ++entry.count;
    if (keep_files) processed_[file_name] = seen;
  }
  const std::uint64_t token = frame.token;
  if (auto st = sink_->store(std::move(frame)); !st) {
    std::lock_guard lock(mu_);
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
      std::lock_guard lock(mu_);
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

void DirSource::finish(const fs::path& path) {
  std::error_code ec;
  if (options_.remove_done) {
    fs::remove(path, ec);
  } else if (!options_.done_dir.empty()) {
    const fs::path to = options_.done_dir / path.filename();
    fs::rename(path, to, ec);
    if (ec == std::errc::cross_device_link) {
      ec.clear();
      fs::copy_file(path, to, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::remove(path, ec);
    }
  } else {
    return;
  }
  // Already gone: a newer copy of the same name was finished first.
  if (ec && ec != std::errc::no_such_file_or_directory) {
    spdlog::warn("{}: cannot {} '{}': {}", name(), options_.remove_done ? "delete" : "move", path.string(),
                 ec.message());
  }
}

}  // namespace sluice::source
