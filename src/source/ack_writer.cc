#include "source/ack_writer.h"

#include "wire/protocol_v2.h"

namespace sluice::source {

Status AckWriter::send(net::Transport& io, std::uint64_t next_seq) {
  if (!has_wanted_ || next_seq > wanted_) wanted_ = next_seq;
  has_wanted_ = true;
  return flush(io);
}

Status AckWriter::flush(net::Transport& io) {
  blocked_ = false;
  while (true) {
    if (unsent_.empty()) {
      if (!has_wanted_ || (has_delivered_ && delivered_ == wanted_)) return Status::ok();
      const auto ack = wire::encode_ack(wanted_);
      unsent_.assign(ack.begin(), ack.end());
      unsent_value_ = wanted_;
    }
    using Io = net::Transport::Io;
    const auto sent = io.send(unsent_);
    if (sent.io == Io::kWantWrite || sent.io == Io::kWantRead) {
      blocked_ = true;
      return Status::ok();
    }
    if (sent.io != Io::kOk) {
      return Status(Code::kIo, "sending an ack: " + (sent.error.is_ok() ? std::string("the peer closed")
                                                                        : sent.error.message()));
    }
    unsent_.erase(unsent_.begin(), unsent_.begin() + static_cast<std::ptrdiff_t>(sent.bytes));
    if (unsent_.empty()) {
      delivered_ = unsent_value_;
      has_delivered_ = true;
    }
  }
}

}  // namespace sluice::source
