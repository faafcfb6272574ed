#include "source/frame_stream_reader.h"

#include <fmt/format.h>

namespace sluice::source {

FrameStreamReader::State FrameStreamReader::on_bytes(std::span<const std::uint8_t> bytes) {
  while (true) {
    auto event = decoder_.next(bytes, record_);
    if (!event) {
      status_ = event.status();
      return State::kFailed;
    }
    switch (*event) {
      case wire::DecodeEvent::kNeedMore:
        return State::kOpen;
      case wire::DecodeEvent::kEndOfStream:
        return State::kEnded;
      case wire::DecodeEvent::kRecord: {
        Frame frame;
        frame.stream = stream_;
        frame.seq = seq_++;
        frame.name = std::move(record_.name);
        frame.payload = Payload(std::move(record_.payload));
        frame.arrival = Clock::now();
        if (auto st = sink_.store(std::move(frame)); !st) {
          status_ = st;
          return State::kFailed;
        }
        break;
      }
    }
  }
}

FrameStreamReader::State FrameStreamReader::on_peer_closed() {
  if (decoder_.mid_record()) {
    status_ = Status(Code::kFraming,
                     "connection closed in the middle of a frame (rule: a stream ends between frames)");
    return State::kFailed;
  }
  return State::kEnded;
}

}  // namespace sluice::source
