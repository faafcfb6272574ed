// Frame: one image record as it travels through the pipeline.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sluice {

using Clock = std::chrono::steady_clock;

/// Immutable payload bytes with shared ownership. The owner can be a vector (bytes read from a
/// socket) or anything with a release callback (a plugin's buffer), so payloads move through the
/// pipeline without copies.
class Payload {
 public:
  Payload() = default;
  /// Takes ownership of `bytes`.
  explicit Payload(std::vector<std::uint8_t> bytes);
  /// Borrows [data, data+size); `owner` keeps it alive and releases it when the last copy goes.
  Payload(std::shared_ptr<const void> owner, const std::uint8_t* data, std::size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

 private:
  std::shared_ptr<const void> owner_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

/// How a payload's bytes are to be read: an encoded image (JPEG, PNG: the default), or raw 8-bit
/// pixels, interleaved, row-major, without padding (decoded video frames).
enum class PixelFormat : std::uint8_t { kEncoded = 0, kRgb24 = 1, kGray8 = 2 };

/// The layout of a raw payload; `format` kEncoded means there is none (width and height are 0).
struct PixelLayout {
  PixelFormat format = PixelFormat::kEncoded;
  std::uint32_t width = 0;
  std::uint32_t height = 0;

  bool raw() const { return format != PixelFormat::kEncoded; }
  /// 3 (RGB24), 1 (GRAY8), 0 (encoded).
  int channels() const { return format == PixelFormat::kRgb24 ? 3 : format == PixelFormat::kGray8 ? 1 : 0; }
  /// The payload size a raw frame of this layout must have.
  std::uint64_t bytes() const {
    return static_cast<std::uint64_t>(width) * height * static_cast<std::uint64_t>(channels());
  }
  bool operator==(const PixelLayout&) const = default;
};

/// One image record. `stream` identifies the producer connection (or source stream); `seq` counts
/// the frames of that stream from 0. (stream, seq) names one frame: a protocol-v2 producer that
/// re-sends after a reconnect sends the same pair again (a deduplicating sink keeps one line), and
/// ids the server numbers itself (below 2^32) are not reused across restarts while the output or the
/// write-ahead log holds them.
struct Frame {
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
  std::string name;  // as received: raw bytes, not trusted to be UTF-8
  Payload payload;
  Clock::time_point arrival{};
  /// Source-defined: what the source needs to acknowledge the frame once its result line is
  /// written (a WAL position, a Redis entry id, a producer's sequence). 0 when unused.
  std::uint64_t token = 0;
  /// Position of the frame in the write-ahead log; 0 when it is not logged (yet).
  std::uint64_t wal_lsn = 0;
  /// Raw pixels, or (the default) an encoded image.
  PixelLayout pixels;
  /// Video frames: the presentation time in ms from the start of the stream.
  std::optional<std::int64_t> pts_ms;
  /// Video frames: where the stream comes from, a URL without credentials (shared by the frames
  /// of a stream, so a frame copies no string). Empty otherwise.
  std::shared_ptr<const std::string> origin;
};

}  // namespace sluice
