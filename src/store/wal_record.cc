#include "store/wal_record.h"

#include <zlib.h>

#include <cstring>

#include <fmt/format.h>

namespace sluice::store {
namespace {

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Reserves the 8-byte record header; finish_record fills it once the body is known.
std::size_t begin_record(std::vector<std::uint8_t>& out) {
  const std::size_t at = out.size();
  out.resize(out.size() + kWalRecordHeaderBytes);
  return at;
}

void finish_record(std::vector<std::uint8_t>& out, std::size_t at) {
  const std::size_t body = out.size() - at - kWalRecordHeaderBytes;
  const auto crc =
      static_cast<std::uint32_t>(crc32(0L, out.data() + at + kWalRecordHeaderBytes, static_cast<uInt>(body)));
  for (int i = 0; i < 4; ++i) {
    out[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(body >> (8 * i));
    out[at + 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
  }
}

Status corrupt(const std::string& what) {
  return Status(Code::kFraming, "WAL record " + what);
}

}  // namespace

void append_frame_record(const Frame& frame, std::uint64_t lsn, std::vector<std::uint8_t>& out) {
  const std::size_t at = begin_record(out);
  out.push_back(static_cast<std::uint8_t>(WalRecordType::kFrame));
  put_u64(out, lsn);
  put_u64(out, frame.stream);
  put_u64(out, frame.seq);
  const std::size_t name_len = std::min<std::size_t>(frame.name.size(), 255);
  out.push_back(static_cast<std::uint8_t>(name_len));
  out.insert(out.end(), frame.name.begin(), frame.name.begin() + static_cast<std::ptrdiff_t>(name_len));
  put_u32(out, static_cast<std::uint32_t>(frame.payload.size()));
  out.insert(out.end(), frame.payload.data(), frame.payload.data() + frame.payload.size());
  finish_record(out, at);
}

void append_done_record(std::span<const std::uint64_t> lsns, std::vector<std::uint8_t>& out) {
  const std::size_t at = begin_record(out);
  out.push_back(static_cast<std::uint8_t>(WalRecordType::kDone));
  put_u32(out, static_cast<std::uint32_t>(lsns.size()));
  for (auto lsn : lsns) put_u64(out, lsn);
  finish_record(out, at);
}

Result<std::variant<WalFrame, WalDone>> decode_wal_record(std::span<const std::uint8_t> bytes,
                                                          std::size_t& consumed) {
  if (bytes.size() < kWalRecordHeaderBytes) return corrupt("header is truncated");
  const std::uint32_t body_len = get_u32(bytes.data());
  const std::uint32_t crc = get_u32(bytes.data() + 4);
  if (body_len == 0 || body_len > kWalMaxBodyBytes)
    return corrupt(fmt::format("has an impossible length {}", body_len));
  if (bytes.size() - kWalRecordHeaderBytes < body_len) return corrupt("body is truncated");
  const std::uint8_t* body = bytes.data() + kWalRecordHeaderBytes;
  if (static_cast<std::uint32_t>(crc32(0L, body, body_len)) != crc) return corrupt("fails its CRC check");
  std::size_t pos = 1;
  auto need = [&](std::size_t n) { return body_len - pos >= n; };
  switch (static_cast<WalRecordType>(body[0])) {
    case WalRecordType::kFrame: {
      if (!need(8 * 3 + 1)) return corrupt("frame is too short");
      WalFrame f;
      f.lsn = get_u64(body + pos);
      f.stream = get_u64(body + pos + 8);
      f.seq = get_u64(body + pos + 16);
      pos += 24;
      const std::size_t name_len = body[pos++];
      if (!need(name_len + 4)) return corrupt("frame name is truncated");
      f.name.assign(reinterpret_cast<const char*>(body + pos), name_len);
      pos += name_len;
      const std::uint32_t payload_len = get_u32(body + pos);
      pos += 4;
      if (body_len - pos != payload_len)
        return corrupt("frame payload length disagrees with the record length");
      f.payload = std::span<const std::uint8_t>(body + pos, payload_len);
      consumed = kWalRecordHeaderBytes + body_len;
      return std::variant<WalFrame, WalDone>(std::move(f));
    }
    case WalRecordType::kDone: {
      if (!need(4)) return corrupt("done record is too short");
      const std::uint32_t count = get_u32(body + pos);
      pos += 4;
      if ((body_len - pos) / 8 != count || (body_len - pos) % 8 != 0)
        return corrupt("done record count is wrong");
      WalDone d;
      d.lsns.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) d.lsns.push_back(get_u64(body + pos + 8 * i));
      consumed = kWalRecordHeaderBytes + body_len;
      return std::variant<WalFrame, WalDone>(std::move(d));
    }
  }
  return corrupt(fmt::format("has unknown type {}", body[0]));
}

}  // namespace sluice::store
