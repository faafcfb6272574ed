#include "wire/frame_codec.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace sluice::wire {
namespace {

// Payload memory is reserved at most this far ahead of the bytes that have arrived.
constexpr std::size_t kReserveChunk = 1u << 20;

std::int32_t read_be32(const std::uint8_t* p) {
  const std::uint32_t u = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                          (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  return static_cast<std::int32_t>(u);
}

}  // namespace

Result<std::array<std::uint8_t, kHeaderBytes>> encode_header(std::string_view name,
                                                             std::size_t payload_bytes) {
  if (name.size() > kNameBytes) {
    return Status(Code::kInvalidArgument,
                  fmt::format("name '{}' is {} bytes; the wire format allows at most {}", name, name.size(),
                              kNameBytes));
  }
  if (payload_bytes > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return Status(Code::kInvalidArgument,
                  fmt::format("payload of {} bytes does not fit the 32-bit signed length", payload_bytes));
  }
  std::array<std::uint8_t, kHeaderBytes> header{};
  std::memcpy(header.data(), name.data(), name.size());
  const auto len = static_cast<std::uint32_t>(payload_bytes);
  header[kNameBytes + 0] = static_cast<std::uint8_t>(len >> 24);
  header[kNameBytes + 1] = static_cast<std::uint8_t>(len >> 16);
  header[kNameBytes + 2] = static_cast<std::uint8_t>(len >> 8);
  header[kNameBytes + 3] = static_cast<std::uint8_t>(len);
  return header;
}

Status append_record(std::string_view name, std::span<const std::uint8_t> payload,
                     std::vector<std::uint8_t>& out) {
  auto header = encode_header(name, payload.size());
  if (!header) return header.status();
  out.insert(out.end(), header->begin(), header->end());
  out.insert(out.end(), payload.begin(), payload.end());
  return Status::ok();
}

std::array<std::uint8_t, kHeaderBytes> end_of_stream_record() {
  return {};
}

std::string decode_name(std::span<const std::uint8_t, kNameBytes> field) {
  std::size_t end = field.size();
  while (end > 0 && (field[end - 1] == 0 || field[end - 1] == ' ')) --end;
  return std::string(reinterpret_cast<const char*>(field.data()), end);
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

Result<DecodeEvent> FrameDecoder::next(std::span<const std::uint8_t>& input, WireRecord& record) {
  if (finished_) {
    if (!error_.is_ok()) return error_;
    return DecodeEvent::kEndOfStream;
  }
  if (awaiting_accept_) return DecodeEvent::kHeader;
  while (!input.empty()) {
    if (!in_payload_) {
      const std::size_t take = std::min(kHeaderBytes - header_fill_, input.size());
      std::memcpy(header_.data() + header_fill_, input.data(), take);
      header_fill_ += take;
      input = input.subspan(take);
      if (header_fill_ < kHeaderBytes) return DecodeEvent::kNeedMore;
      header_fill_ = 0;
      const std::int32_t length = read_be32(header_.data() + kNameBytes);
      if (length < 0) {
        finished_ = true;
        return error_ =
                   Status(Code::kFraming,
                          fmt::format("length {} is negative (rule: a frame length must be >= 0)", length));
      }
      if (static_cast<std::size_t>(length) > max_frame_bytes_) {
        finished_ = true;
        return error_ =
                   Status(Code::kFraming, fmt::format("length {} exceeds the maximum frame size of {} bytes "
                                                      "(rule: --max-frame-bytes)",
                                                      length, max_frame_bytes_));
      }
      pending_.name = decode_name(std::span<const std::uint8_t, kNameBytes>(header_.data(), kNameBytes));
      if (length == 0) {
        finished_ = true;
        return DecodeEvent::kEndOfStream;
      }
      payload_expected_ = static_cast<std::size_t>(length);
      pending_.payload.clear();
      pending_.payload.reserve(std::min(payload_expected_, kReserveChunk));
      in_payload_ = true;
      if (announce_) {
        awaiting_accept_ = true;
        return DecodeEvent::kHeader;
      }
      continue;
    }
    const std::size_t take = std::min(payload_expected_ - pending_.payload.size(), input.size());
    pending_.payload.insert(pending_.payload.end(), input.begin(),
                            input.begin() + static_cast<std::ptrdiff_t>(take));
    input = input.subspan(take);
    if (pending_.payload.size() == payload_expected_) {
      in_payload_ = false;
      record = std::move(pending_);
      pending_ = WireRecord{};
      return DecodeEvent::kRecord;
    }
  }
  return DecodeEvent::kNeedMore;
}

}  // namespace sluice::wire
