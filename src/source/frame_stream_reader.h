// FrameStreamReader: turns one connection's bytes into frames of one stream.
#pragma once

#include <cstdint>
#include <span>

#include "source/source.h"
#include "wire/frame_codec.h"

namespace sluice::source {

/// Shared by every byte-stream source (tcp-listen, tcp-connect). Stamps each frame with its
/// stream id, its sequence number and its arrival time, and stores it.
class FrameStreamReader {
 public:
  enum class State { kOpen, kEnded, kFailed };

  FrameStreamReader(FrameSink& sink, std::uint64_t stream, std::size_t max_frame_bytes)
      : sink_(sink), stream_(stream), decoder_(max_frame_bytes) {}

  /// Feeds bytes just read. Returns kOpen to keep reading, kEnded after the end-of-stream record,
  /// kFailed after a framing error or when the pipeline stopped (see status()).
  State on_bytes(std::span<const std::uint8_t> bytes);
  /// The peer closed the connection: clean between records, a framing error inside one.
  State on_peer_closed();

  const Status& status() const { return status_; }
  std::uint64_t stream() const { return stream_; }
  std::uint64_t frames() const { return seq_; }

 private:
  FrameSink& sink_;
  std::uint64_t stream_;
  std::uint64_t seq_ = 0;
  wire::FrameDecoder decoder_;
  wire::WireRecord record_;
  Status status_;
};

}  // namespace sluice::source
