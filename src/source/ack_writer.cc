#include "source/ack_writer.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "wire/protocol_v2.h"

namespace sluice::source {

Status AckWriter::send(int fd, std::uint64_t next_seq) {
  if (!has_wanted_ || next_seq > wanted_) wanted_ = next_seq;
  has_wanted_ = true;
  return flush(fd);
}

Status AckWriter::flush(int fd) {
  blocked_ = false;
  while (true) {
    if (unsent_.empty()) {
      if (!has_wanted_ || (has_delivered_ && delivered_ == wanted_)) return Status::ok();
      const auto ack = wire::encode_ack(wanted_);
      unsent_.assign(ack.begin(), ack.end());
      unsent_value_ = wanted_;
    }
    const ssize_t n = ::send(fd, unsent_.data(), unsent_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        blocked_ = true;
        return Status::ok();
      }
      return Status(Code::kIo, fmt::format("sending an ack: {}", std::strerror(errno)));
    }
    unsent_.erase(unsent_.begin(), unsent_.begin() + n);
    if (unsent_.empty()) {
      delivered_ = unsent_value_;
      has_delivered_ = true;
    }
  }
}

}  // namespace sluice::source
