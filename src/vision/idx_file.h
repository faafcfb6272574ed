// IDX files (MNIST, Fashion-MNIST): unsigned-byte tensors with a big-endian header, optionally gzipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sluice/status.h"

namespace sluice::vision {

struct IdxArray {
  std::vector<std::uint32_t> dims;  // e.g. {10000, 28, 28} for images, {10000} for labels
  std::vector<std::uint8_t> data;
  std::size_t items() const { return dims.empty() ? 0 : dims[0]; }
  std::size_t item_size() const;
};

/// True when the file starts with the IDX magic for unsigned bytes (plain or gzipped).
bool looks_like_idx(const std::string& path);
/// Reads an unsigned-byte IDX file (.gz is decompressed).
Result<IdxArray> read_idx(const std::string& path);

}  // namespace sluice::vision
