#include "source/ack_writer.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "wire/protocol_v2.h"

namespace sluice::source {

Status AckWriter::flush(int fd) {
  while (!unsent_.empty()) {
    const ssize_t n = ::send(fd, unsent_.data(), unsent_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::ok();
      return Status(Code::kIo, fmt::format("sending an ack: {}", std::strerror(errno)));
    }
    unsent_.erase(unsent_.begin(), unsent_.begin() + n);
  }
  return Status::ok();
}

Status AckWriter::send(int fd, std::uint64_t next_seq) {
  if (auto st = flush(fd); !st) return st;
  if (!unsent_.empty()) return Status::ok();  // still busy: this ack is superseded by the next
  const auto ack = wire::encode_ack(next_seq);
  unsent_.assign(ack.begin(), ack.end());
  return flush(fd);
}

Status AckWriter::send_final(int fd, std::uint64_t next_seq, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool queued = false;
  while (true) {
    if (auto st = flush(fd); !st) return st;
    if (unsent_.empty()) {
      if (queued) return Status::ok();
      const auto ack = wire::encode_ack(next_seq);
      unsent_.assign(ack.begin(), ack.end());
      queued = true;
      continue;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status(Code::kIo, "the producer does not read its acks");
    pollfd pfd{fd, POLLOUT, 0};
    ::poll(&pfd, 1, static_cast<int>(left.count()));
  }
}

}  // namespace sluice::source
