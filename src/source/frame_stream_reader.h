// FrameStreamReader: turns one connection's bytes into frames of one stream.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "source/ack_writer.h"
#include "source/source.h"
#include "wire/frame_codec.h"

namespace sluice::source {

/// Shared by every byte-stream source (tcp-listen, tcp-connect). Stamps each frame with its
/// stream id, its sequence number and its arrival time, and stores the frames of each read
/// together. Speaks protocol v2 (wire/protocol_v2.h) when the first record is a hello.
class FrameStreamReader {
 public:
  enum class State { kOpen, kEnded, kFailed };

  /// `ack_fd` is the connection the bytes come from; v2 acks are written to it.
  FrameStreamReader(FrameSink& sink, std::uint64_t stream, std::size_t max_frame_bytes, int ack_fd)
      : sink_(sink), stream_(stream), decoder_(max_frame_bytes), ack_fd_(ack_fd) {}

  /// Feeds bytes just read. Returns kOpen to keep reading, kEnded after the end-of-stream record,
  /// kFailed after a framing error or when the pipeline stopped (see status()). Every frame
  /// completed by these bytes is stored before it returns.
  State on_bytes(std::span<const std::uint8_t> bytes);
  /// The peer closed the connection: clean between records, a framing error inside one.
  State on_peer_closed();

  const Status& status() const { return status_; }
  std::uint64_t stream() const { return stream_; }
  /// Frames stored so far on this connection.
  std::uint64_t frames() const { return frames_; }
  bool acks_enabled() const { return v2_; }

 private:
  Status handle_record();
  Status flush_pending();
  /// Sends the cumulative ack if it changed; `final` waits for room (end of the stream).
  Status send_ack(bool final);

  FrameSink& sink_;
  std::uint64_t stream_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t frames_ = 0;
  bool v2_ = false;
  std::uint64_t acked_ = 0;
  bool ack_due_ = false;
  wire::FrameDecoder decoder_;
  int ack_fd_;
  AckWriter acks_;
  wire::WireRecord record_;
  std::vector<Frame> pending_;
  Status status_;
};

}  // namespace sluice::source
