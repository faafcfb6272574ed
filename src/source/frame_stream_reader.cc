#include "source/frame_stream_reader.h"

#include <fmt/format.h>

#include "wire/protocol_v2.h"

namespace sluice::source {

Status FrameStreamReader::handle_record() {
  if (record_.name == wire::kHelloName) {
    if (frames_ > 0 || v2_ || !pending_.empty()) {
      return Status(Code::kFraming, "hello after the first record (rule: a hello must be the first record)");
    }
    auto hello = wire::parse_hello(record_.payload);
    if (!hello) return hello.status();
    v2_ = true;
    stream_ = hello->stream;
    next_seq_ = hello->next_seq;
    acked_ = next_seq_;
    ack_due_ = true;  // tells the producer where this server stands before any frame
    return Status::ok();
  }
  Frame frame;
  frame.stream = stream_;
  frame.seq = next_seq_++;
  frame.name = std::move(record_.name);
  frame.payload = Payload(std::move(record_.payload));
  frame.arrival = Clock::now();
  pending_.push_back(std::move(frame));
  return Status::ok();
}

Status FrameStreamReader::flush_pending() {
  if (pending_.empty()) return Status::ok();
  const std::size_t n = pending_.size();
  auto st = sink_.store_many(pending_);
  pending_.clear();
  if (!st) return st;
  frames_ += n;
  if (v2_) {
    acked_ = next_seq_;
    ack_due_ = true;
  }
  return Status::ok();
}

FrameStreamReader::State FrameStreamReader::on_bytes(std::span<const std::uint8_t> bytes) {
  State state = State::kOpen;
  while (state == State::kOpen) {
    auto event = decoder_.next(bytes, record_);
    if (!event) {
      status_ = event.status();
      state = State::kFailed;
      break;
    }
    switch (*event) {
      case wire::DecodeEvent::kNeedMore:
        if (auto st = flush_pending(); !st) {
          status_ = st;
          return State::kFailed;
        }
        if (auto st = send_ack(false); !st) {
          status_ = st;
          return State::kFailed;
        }
        return State::kOpen;
      case wire::DecodeEvent::kEndOfStream:
        state = State::kEnded;
        break;
      case wire::DecodeEvent::kRecord:
        if (auto st = handle_record(); !st) {
          status_ = st;
          state = State::kFailed;
        }
        break;
    }
  }
  // Frames completed before an end or an error are still stored: they were received whole.
  if (auto st = flush_pending(); !st && state != State::kFailed) {
    status_ = st;
    state = State::kFailed;
  }
  // Ack what was stored, even before a failure: the producer then re-sends less.
  if (auto st = send_ack(state == State::kEnded); !st && state != State::kFailed) {
    status_ = st;
    state = State::kFailed;
  }
  return state;
}

FrameStreamReader::State FrameStreamReader::on_peer_closed() {
  if (decoder_.mid_record()) {
    status_ = Status(Code::kFraming,
                     "connection closed in the middle of a frame (rule: a stream ends between frames)");
    return State::kFailed;
  }
  return State::kEnded;
}

Status FrameStreamReader::send_ack(bool final) {
  if (!v2_ || !ack_due_ || ack_fd_ < 0) return Status::ok();
  ack_due_ = false;
  return final ? acks_.send_final(ack_fd_, acked_, std::chrono::seconds(5)) : acks_.send(ack_fd_, acked_);
}

}  // namespace sluice::source
