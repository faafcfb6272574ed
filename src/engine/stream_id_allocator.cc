#include "engine/stream_id_allocator.h"

#include <cstdio>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::engine {

void StreamIdAllocator::persist_in(const std::string& path) {
  std::lock_guard lock(mu_);
  path_ = path;
  std::ifstream in(path);
  std::uint64_t stored = 0;
  if (in >> stored) next_ = std::max<std::uint64_t>(1, stored);
  reserved_end_ = next_;  // nothing reserved yet in this run
}

Status StreamIdAllocator::persist(std::uint64_t reserved_end) {
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << reserved_end << "\n";
    out.flush();
    if (!out) return Status(Code::kIo, fmt::format("cannot write '{}'", tmp));
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0)
    return Status(Code::kIo, fmt::format("cannot replace '{}'", path_));
  return Status::ok();
}

std::uint64_t StreamIdAllocator::next() {
  std::lock_guard lock(mu_);
  if (next_ >= reserved_end_) {
    const std::uint64_t end = next_ + kBlock;
    if (auto st = persist(end); !st) {
      spdlog::error("stream ids: {}; ids may repeat after a restart", st.to_string());
    }
    reserved_end_ = end;
  }
  return next_++;
}

}  // namespace sluice::engine
