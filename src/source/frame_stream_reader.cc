#include "source/frame_stream_reader.h"

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "wire/protocol_v2.h"

namespace sluice::source {
namespace {
// Each connection receives into a buffer of this size, reserved from the memory budget while
// the connection lives: 1024 connections hold at most 64 MiB of it.
constexpr std::size_t kStagingBytes = 64 * 1024;
}  // namespace

FrameStreamReader::FrameStreamReader(FrameSink& sink, std::uint64_t stream, std::size_t max_frame_bytes)
    : sink_(sink), stream_(stream), decoder_(max_frame_bytes) {
  decoder_.announce_headers(true);
}

FrameStreamReader::~FrameStreamReader() {
  if (reserved_ > 0) sink_.unreserve(reserved_);
  if (staging_reserved_) sink_.unreserve(kStagingBytes);
}

std::span<std::uint8_t> FrameStreamReader::read_space() {
  if (state_ != State::kOpen) return {};
  if (!staging_reserved_) {
    const auto r = sink_.try_reserve(kStagingBytes, 0);
    if (r.kind != Reservation::Kind::kReserved) {
      state_ = State::kPaused;
      retry_after_ = {};
      return {};
    }
    staging_reserved_ = true;
    staging_.resize(kStagingBytes);
  }
  return std::span<std::uint8_t>(staging_).subspan(staged_);
}

FrameStreamReader::State FrameStreamReader::on_received(std::size_t n) {
  staged_ += n;
  bytes_received_ += n;
  return parse();
}

FrameStreamReader::State FrameStreamReader::resume() {
  if (state_ != State::kPaused) return state_;
  state_ = State::kOpen;
  return parse();
}

FrameStreamReader::State FrameStreamReader::fail(Status why) {
  status_ = std::move(why);
  state_ = State::kFailed;
  return state_;
}

Status FrameStreamReader::refuse(Refusal why) {
  refusal_ = why.reason;
  return Status(Code::kLimit, std::move(why.message));
}

FrameStreamReader::State FrameStreamReader::parse() {
  std::span<const std::uint8_t> input(staging_.data(), staged_);
  while (state_ == State::kOpen) {
    if (awaiting_reservation_) {
      const std::size_t bytes = decoder_.announced_bytes();
      const auto r = sink_.try_reserve(bytes);
      if (r.kind == Reservation::Kind::kNever) {
        fail(Status(Code::kLimit, r.why.message()));
        break;
      }
      if (r.kind == Reservation::Kind::kWait) {
        state_ = State::kPaused;
        retry_after_ = r.retry_after;
        break;
      }
      reserved_ = bytes;
      awaiting_reservation_ = false;
      decoder_.accept_payload();
    }
    auto event = decoder_.next(input, record_);
    if (!event) {
      fail(event.status());
      break;
    }
    if (*event == wire::DecodeEvent::kNeedMore) break;
    if (*event == wire::DecodeEvent::kHeader) {
      awaiting_reservation_ = true;
      continue;
    }
    if (*event == wire::DecodeEvent::kEndOfStream) {
      state_ = State::kEnded;
      break;
    }
    if (auto st = handle_record(); !st) fail(std::move(st));
  }
  // Keep what was not consumed at the front of the buffer.
  const std::size_t consumed = staged_ - input.size();
  if (consumed > 0 && !input.empty()) std::memmove(staging_.data(), input.data(), input.size());
  staged_ = input.size();
  if (peer_closed_ && state_ == State::kOpen) finish_closed();
  // Frames completed before an end or an error are still admitted: they were received whole.
  admit_pending();
  return state_;
}

void FrameStreamReader::finish_closed() {
  if (decoder_.mid_record() || staged_ > 0 || awaiting_reservation_) {
    fail(Status(Code::kFraming,
                "connection closed in the middle of a frame (rule: a stream ends between frames)"));
  } else {
    state_ = State::kEnded;
  }
}

Status FrameStreamReader::handle_record() {
  const std::size_t payload = record_.payload.size();
  if (record_.name == wire::kHelloName) {
    sink_.unreserve(reserved_);
    reserved_ = 0;
    if (frames_ > 0 || v2_ || !pending_.empty()) {
      return Status(Code::kFraming, "hello after the first record (rule: a hello must be the first record)");
    }
    auto hello = wire::parse_hello(record_.payload);
    if (!hello) return hello.status();
    if (gate_ != nullptr) {
      if (auto refused = gate_->on_hello(*hello)) return refuse(std::move(*refused));
    }
    v2_ = true;
    stream_ = hello->stream;
    next_seq_ = first_seq_ = hello->next_seq;
    return Status::ok();
  }
  if (gate_ != nullptr) {
    std::optional<Refusal> refused;
    if (frames_ == 0 && !v2_ && pending_.empty()) refused = gate_->on_plain();
    if (!refused) refused = gate_->on_frame(record_.name);
    if (refused) return refuse(std::move(*refused));  // its reservation goes with the reader
  }
  // The reservation moves with the frame: the pipeline releases it when the frame is done.
  reserved_ -= payload;
  if (reserved_ > 0) {  // the header announced more than arrived: impossible, but never leak
    sink_.unreserve(reserved_);
    reserved_ = 0;
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

void FrameStreamReader::admit_pending() {
  if (pending_.empty()) return;
  frames_ += pending_.size();
  const std::uint64_t stream = stream_;
  const std::size_t n = pending_.size();
  sink_.admit(std::move(pending_), [stream, n](const Status& st) {
    if (!st) spdlog::error("stream {}: {} frame(s) were not accepted: {}", stream, n, st.to_string());
  });
  pending_.clear();
}

FrameStreamReader::State FrameStreamReader::on_peer_closed() {
  peer_closed_ = true;
  // While paused, bytes already received wait in the staging buffer: resume() finishes them.
  if (state_ == State::kOpen) finish_closed();
  return state_;
}

}  // namespace sluice::source
