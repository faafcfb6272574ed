#include "vision/idx_file.h"

#include <zlib.h>

#include <fmt/format.h>

namespace sluice::vision {
namespace {

// Reads a whole (possibly gzipped) file; gzread passes plain files through unchanged.
Result<std::vector<std::uint8_t>> read_all(const std::string& path, std::size_t limit) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return Status(Code::kIo, fmt::format("cannot open '{}'", path));
  std::vector<std::uint8_t> out;
  std::uint8_t chunk[1 << 16];
  int n = 0;
  while ((n = gzread(f, chunk, sizeof chunk)) > 0) {
    out.insert(out.end(), chunk, chunk + n);
    if (out.size() >= limit) break;
  }
  const bool failed = n < 0;
  gzclose(f);
  if (failed) return Status(Code::kIo, fmt::format("'{}' is not readable (corrupt gzip?)", path));
  return out;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

std::size_t IdxArray::item_size() const {
  std::size_t n = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

bool looks_like_idx(const std::string& path) {
  auto head = read_all(path, 4);
  return head && head->size() >= 4 && (*head)[0] == 0 && (*head)[1] == 0 && (*head)[2] == 0x08 &&
         (*head)[3] >= 1 && (*head)[3] <= 4;
}

Result<IdxArray> read_idx(const std::string& path) {
  auto bytes = read_all(path, SIZE_MAX);
  if (!bytes) return bytes.status();
  const auto& b = *bytes;
  if (b.size() < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0x08) {
    return Status(Code::kInvalidArgument, fmt::format("'{}' is not an unsigned-byte IDX file", path));
  }
  const std::size_t ndim = b[3];
  if (ndim < 1 || b.size() < 4 + 4 * ndim)
    return Status(Code::kInvalidArgument, fmt::format("'{}': bad IDX header", path));
  IdxArray out;
  std::size_t total = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    out.dims.push_back(be32(b.data() + 4 + 4 * i));
    total *= out.dims.back();
  }
  const std::size_t offset = 4 + 4 * ndim;
  if (b.size() - offset != total) {
    return Status(Code::kInvalidArgument, fmt::format("'{}': header says {} bytes of data, file has {}", path,
                                                      total, b.size() - offset));
  }
  out.data.assign(b.begin() + static_cast<std::ptrdiff_t>(offset), b.end());
  return out;
}

}  // namespace sluice::vision
