#include "store/spill_file.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace sluice::store {

SpillFile::SpillFile(std::string path, net::Fd fd,
                     std::vector<std::pair<std::uint64_t, std::uint64_t>> extents, std::uint64_t bytes)
    : path_(std::move(path)), fd_(std::move(fd)), extents_(std::move(extents)), bytes_(bytes) {}

SpillFile::~SpillFile() {
  ::unlink(path_.c_str());
}

Result<std::shared_ptr<SpillFile>> SpillFile::write(const std::string& dir, std::uint64_t block_id,
                                                    std::span<Frame> frames) {
  const std::string path =
      (std::filesystem::path(dir) / fmt::format("block-{}-{}.spill", getpid(), block_id)).string();
  net::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid())
    return Status(Code::kIo, fmt::format("cannot create spill file '{}': {}", path, std::strerror(errno)));
  std::vector<std::pair<std::uint64_t, std::uint64_t>> extents;
  extents.reserve(frames.size());
  std::uint64_t offset = 0;
  for (const auto& frame : frames) {
    auto bytes = frame.payload.bytes();
    while (!bytes.empty()) {
      const ssize_t n = ::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::unlink(path.c_str());
        return Status(Code::kIo, fmt::format("cannot write spill file '{}': {}", path, std::strerror(errno)));
      }
      offset += static_cast<std::uint64_t>(n);
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    extents.emplace_back(offset - frame.payload.size(), frame.payload.size());
  }
  for (auto& frame : frames) frame.payload = Payload();
  return std::make_shared<SpillFile>(path, std::move(fd), std::move(extents), offset);
}

Result<Payload> SpillFile::read(std::size_t index) const {
  if (index >= extents_.size()) return Status(Code::kInternal, "spill index out of range");
  const auto [offset, length] = extents_[index];
  std::vector<std::uint8_t> data(length);
  std::size_t got = 0;
  while (got < length) {
    const ssize_t n = ::pread(fd_.get(), data.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return Status(Code::kIo, fmt::format("cannot read spill file '{}': {}", path_, std::strerror(errno)));
    got += static_cast<std::size_t>(n);
  }
  return Payload(std::move(data));
}

}  // namespace sluice::store
