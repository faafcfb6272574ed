#include "engine/stream_id_allocator.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace sluice::engine {

void StreamIdAllocator::raise_floor(std::uint64_t highest_used) {
  MutexLock lock(mu_);
  next_ = std::max(next_, highest_used + 1);
}

Status StreamIdAllocator::persist_in(fs::FileSystem& fs, const std::string& path) {
  MutexLock lock(mu_);
  fs_ = &fs;
  path_ = path;
  if (fs.stat(path).exists) {
    auto bytes = fs.read_file(path);
    if (!bytes) return bytes.status();
    std::uint64_t stored = 0;
    const auto* text = reinterpret_cast<const char*>(bytes->data());
    const auto [end, ec] = std::from_chars(text, text + bytes->size(), stored);
    if (ec != std::errc()) {
      return Status(Code::kIo, fmt::format("the stream-id state '{}' does not hold a number", path));
    }
    next_ = std::max(next_, stored);
  }
  reserved_end_ = next_;  // nothing reserved yet in this run
  return Status::ok();
}

Result<std::uint64_t> StreamIdAllocator::next() {
  MutexLock lock(mu_);
  if (next_ >= reserved_end_) {
    const std::uint64_t end = next_ + kBlock;
    const std::string text = fmt::format("{}\n", end);
    if (auto st = fs_->write_file_atomically(
            path_, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
        !st) {
      return Status(Code::kIo, fmt::format("cannot store the stream-id state: {}", st.message()));
    }
    reserved_end_ = end;
  }
  return next_++;
}

}  // namespace sluice::engine
