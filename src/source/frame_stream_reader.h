// FrameStreamReader: turns one connection's bytes into frames of one stream, without blocking.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "source/producer_gate.h"
#include "source/source.h"
#include "wire/frame_codec.h"

namespace sluice::source {

/// Shared by the byte-stream sources (tcp-listen, tcp-connect). Bytes are received into its
/// staging buffer; every header's payload is reserved from the memory budget before it is read,
/// so partial frames count against the budget too; complete frames are admitted in order, each
/// stamped with its stream id, sequence number and arrival time. Speaks protocol v2
/// (wire/protocol_v2.h) when the first record is a hello. When memory or the rate limit runs
/// out it pauses: the caller stops reading this connection until resume() says otherwise.
/// Not thread-safe: the connection's owner calls it.
class FrameStreamReader {
 public:
  enum class State {
    kOpen,    // read more
    kPaused,  // do not read: wait for the sink's wake (memory), or until retry_after() (rate)
    kEnded,   // the end-of-stream record arrived
    kFailed,  // a framing error, or a frame that can never fit: see status()
  };

  FrameStreamReader(FrameSink& sink, std::uint64_t stream, std::size_t max_frame_bytes);
  ~FrameStreamReader();
  FrameStreamReader(const FrameStreamReader&) = delete;
  FrameStreamReader& operator=(const FrameStreamReader&) = delete;

  /// Asks `gate` (it must outlive the reader) about the hello, a plain first frame, and every
  /// frame's name; a refusal fails the stream (kFailed) before the record reaches the sink.
  void set_gate(ProducerGate* gate) { gate_ = gate; }
  /// Where to receive the next bytes; empty while paused (or the staging memory is not reserved).
  std::span<std::uint8_t> read_space();
  /// `n` bytes were received into read_space().
  State on_received(std::size_t n);
  /// Tries again after a pause.
  State resume();
  /// The peer closed the connection: clean between records, a framing error inside one (once
  /// the bytes it sent before are parsed: while paused this stays kPaused).
  State on_peer_closed();

  State state() const { return state_; }
  const Status& status() const { return status_; }
  /// How long a pause for the rate limit lasts (zero for a pause for memory).
  std::chrono::steady_clock::duration retry_after() const { return retry_after_; }
  std::uint64_t stream() const { return stream_; }
  /// Frames completed and admitted on this connection.
  std::uint64_t frames() const { return frames_; }
  /// Bytes received on this connection.
  std::uint64_t bytes_received() const { return bytes_received_; }
  /// Memory reserved for the frame being received (0 between frames).
  std::size_t reserved() const { return reserved_; }
  /// Protocol v2: the producer's stream id, and the seq it said it starts at.
  bool acks_enabled() const { return v2_; }
  std::uint64_t first_seq() const { return first_seq_; }
  /// The seq the next frame will get: every frame below it was admitted.
  std::uint64_t next_seq() const { return next_seq_; }
  /// The gate refused this producer: why (the state is kFailed).
  const std::optional<observe::RefuseReason>& refusal() const { return refusal_; }
  /// The peer closed its side of the connection.
  bool peer_closed() const { return peer_closed_; }

 private:
  /// Parses the staging buffer as far as reservations allow, then admits what completed.
  State parse();
  Status handle_record();
  void admit_pending();
  State fail(Status why);
  Status refuse(Refusal why);
  /// The peer closed and every byte it sent is parsed: ended, or truncated mid-frame.
  void finish_closed();

  FrameSink& sink_;
  ProducerGate* gate_ = nullptr;
  std::optional<observe::RefuseReason> refusal_;
  std::uint64_t stream_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t first_seq_ = 0;
  std::uint64_t frames_ = 0;
  std::uint64_t bytes_received_ = 0;
  bool v2_ = false;
  wire::FrameDecoder decoder_;
  wire::WireRecord record_;
  std::vector<std::uint8_t> staging_;
  std::size_t staged_ = 0;  // bytes in staging_ not consumed yet
  bool staging_reserved_ = false;
  std::size_t reserved_ = 0;  // reserved for the payload being read (0 between frames)
  bool awaiting_reservation_ = false;
  bool peer_closed_ = false;
  std::chrono::steady_clock::duration retry_after_{};
  std::vector<Frame> pending_;
  State state_ = State::kOpen;
  Status status_;
};

}  // namespace sluice::source
