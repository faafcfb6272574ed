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

void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

Status corrupt(const std::string& what) {
  return Status(Code::kFraming, "WAL record " + what);
}

}  // namespace

void append_frame_record(const Frame& frame, std::uint64_t lsn, std::vector<std::uint8_t>& out) {
  const bool media = frame.pixels.raw() || frame.pts_ms || (frame.origin && !frame.origin->empty());
  const std::size_t at = begin_record(out);
  out.push_back(static_cast<std::uint8_t>(media ? WalRecordType::kMediaFrame : WalRecordType::kFrame));
  put_u64(out, lsn);
  put_u64(out, frame.stream);
  put_u64(out, frame.seq);
  const std::size_t name_len = std::min<std::size_t>(frame.name.size(), 255);
  out.push_back(static_cast<std::uint8_t>(name_len));
  out.insert(out.end(), frame.name.begin(), frame.name.begin() + static_cast<std::ptrdiff_t>(name_len));
  if (media) {
    out.push_back(static_cast<std::uint8_t>(frame.pixels.format));
    put_u32(out, frame.pixels.width);
    put_u32(out, frame.pixels.height);
    out.push_back(frame.pts_ms ? 1 : 0);
    put_u64(out, static_cast<std::uint64_t>(frame.pts_ms.value_or(0)));
    const std::string_view origin = frame.origin ? std::string_view(*frame.origin) : std::string_view();
    const std::size_t origin_len = std::min<std::size_t>(origin.size(), UINT16_MAX);
    put_u16(out, static_cast<std::uint16_t>(origin_len));
    out.insert(out.end(), origin.begin(), origin.begin() + static_cast<std::ptrdiff_t>(origin_len));
  }
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
    case WalRecordType::kFrame:
    case WalRecordType::kMediaFrame: {
      const bool media = static_cast<WalRecordType>(body[0]) == WalRecordType::kMediaFrame;
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
      if (media) {
        // format, width, height, has pts, pts, origin length
        if (!need(1 + 4 + 4 + 1 + 8 + 2)) return corrupt("media frame header is truncated");
        const std::uint8_t format = body[pos];
        if (format > static_cast<std::uint8_t>(PixelFormat::kGray8))
          return corrupt(fmt::format("media frame has unknown pixel format {}", format));
        f.pixels.format = static_cast<PixelFormat>(format);
        f.pixels.width = get_u32(body + pos + 1);
        f.pixels.height = get_u32(body + pos + 5);
        const std::uint8_t has_pts = body[pos + 9];
        if (has_pts > 1) return corrupt("media frame has a bad pts flag");
        if (has_pts) f.pts_ms = static_cast<std::int64_t>(get_u64(body + pos + 10));
        const std::size_t origin_len = body[pos + 18] | (static_cast<std::size_t>(body[pos + 19]) << 8);
        pos += 20;
        if (!need(origin_len + 4)) return corrupt("media frame origin is truncated");
        f.origin.assign(reinterpret_cast<const char*>(body + pos), origin_len);
        pos += origin_len;
      }
      const std::uint32_t payload_len = get_u32(body + pos);
      pos += 4;
      if (body_len - pos != payload_len)
        return corrupt("frame payload length disagrees with the record length");
      if (!f.pixels.raw() && (f.pixels.width != 0 || f.pixels.height != 0))
        return corrupt("encoded media frame has pixel dimensions");
      if (f.pixels.raw() && f.pixels.bytes() != payload_len)
        return corrupt("raw frame payload length disagrees with its pixel layout");
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
