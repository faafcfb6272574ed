#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "net/socket.h"
#include "sluice/file_system.h"

namespace sluice::fs {
namespace {
// Outputs, WAL segments and moved input files hold frames and their names: the owner's only.
constexpr mode_t kFileMode = 0600;
constexpr mode_t kDirMode = 0700;

Status errno_status(const std::string& what, const std::string& path) {
  return Status(Code::kIo, fmt::format("{} '{}': {}", what, path, std::strerror(errno)));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, net::Fd fd, std::uint64_t size)
      : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}

  Status append(std::span<const std::uint8_t> data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("writing", path_);
      }
      size_ += static_cast<std::uint64_t>(n);
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return Status::ok();
  }
  Status flush() override { return Status::ok(); }
  Status sync() override {
    if (::fdatasync(fd_.get()) != 0) return errno_status("fdatasync of", path_);
    return Status::ok();
  }
  Status truncate(std::uint64_t size) override {
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) return errno_status("truncating", path_);
    size_ = size;
    return Status::ok();
  }
  std::uint64_t size() const override { return size_; }

 private:
  std::string path_;
  net::Fd fd_;
  std::uint64_t size_;
};

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(std::string path, net::Fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  Status read_at(std::uint64_t offset, std::span<std::uint8_t> out) const override {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n =
          ::pread(fd_.get(), out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("reading", path_);
      if (n == 0) {
        return Status(Code::kIo, fmt::format("reading '{}': {} bytes at offset {} are past its end", path_,
                                             out.size(), offset));
      }
      got += static_cast<std::size_t>(n);
    }
    return Status::ok();
  }

 private:
  std::string path_;
  net::Fd fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path, OpenMode mode) override {
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (mode == OpenMode::kTruncate ? O_TRUNC : O_APPEND);
    net::Fd fd(::open(path.c_str(), flags, kFileMode));
    if (!fd.valid()) return errno_status("cannot open", path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_status("cannot stat", path);
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(path, std::move(fd), static_cast<std::uint64_t>(st.st_size)));
  }

  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path) override {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return errno_status("cannot open", path);
    return std::unique_ptr<ReadableFile>(std::make_unique<PosixReadableFile>(path, std::move(fd)));
  }

  Result<std::vector<std::uint8_t>> read_file(const std::string& path) override {
    net::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return errno_status("cannot open", path);
    std::vector<std::uint8_t> data;
    std::uint8_t chunk[1 << 16];
    while (true) {
      const ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("reading", path);
      if (n == 0) break;
      data.insert(data.end(), chunk, chunk + n);
    }
    return data;
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status(Code::kIo, fmt::format("cannot rename '{}' to '{}': {}", from, to, std::strerror(errno)));
    }
    return Status::ok();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno_status("cannot delete", path);
    return Status::ok();
  }

  Status truncate(const std::string& path, std::uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return errno_status("cannot truncate", path);
    return Status::ok();
  }

  Status sync_dir(const std::string& dir) override {
    net::Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return errno_status("cannot open directory", dir);
    if (::fsync(fd.get()) != 0) return errno_status("fsync of directory", dir);
    return Status::ok();
  }

  Status create_dirs(const std::string& dir) override {
    bool created = false;
    std::filesystem::path prefix;
    for (const auto& part : std::filesystem::path(dir).lexically_normal()) {
      prefix /= part;
      if (part.empty() || part == "/" || part == "." || part == "..") continue;
      if (::mkdir(prefix.c_str(), kDirMode) == 0) {
        created = true;
      } else if (errno != EEXIST) {
        return errno_status("cannot create directory", prefix.string());
      }
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Status(Code::kIo,
                    fmt::format("cannot create directory '{}': a file of that name is in the way", dir));
    // A new directory's name must be durable too, or a power loss could take it with its files.
    if (!created) return Status::ok();
    // (Only the leaf's parent: directories created above it are not synced.)
    auto leaf = std::filesystem::path(dir).lexically_normal();
    if (!leaf.has_filename()) leaf = leaf.parent_path();  // "wal/" names "wal"
    return sync_dir(parent_dir(leaf.string()));
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
    if (!d) return errno_status("cannot list", dir);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d.get())) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    if (errno != 0) return errno_status("cannot list", dir);
    return names;
  }

  FileInfo stat(const std::string& path) override {
    struct stat st {};
    FileInfo info;
    if (::stat(path.c_str(), &st) != 0) return info;
    info.exists = true;
    info.regular = S_ISREG(st.st_mode);
    info.directory = S_ISDIR(st.st_mode);
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return info;
  }
};

}  // namespace

FileSystem& FileSystem::posix() {
  static PosixFileSystem instance;
  return instance;
}

Status FileSystem::write_file_atomically(const std::string& path, std::span<const std::uint8_t> data) {
  const std::string tmp = path + ".tmp";
  {
    auto file = open_writable(tmp, OpenMode::kTruncate);
    if (!file) return file.status();
    if (auto st = (*file)->append(data); !st) return st;
    if (auto st = (*file)->flush(); !st) return st;
    if (auto st = (*file)->sync(); !st) return st;
  }
  if (auto st = rename(tmp, path); !st) return st;
  return sync_dir(parent_dir(path));
}

std::string parent_dir(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace sluice::fs
