// AckWriter: sends protocol-v2 acks on a non-blocking socket without ever blocking the reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "sluice/status.h"

namespace sluice::source {

/// Acks are cumulative, so a newer one replaces an older one that could not be sent yet. The
/// only state kept is the unsent tail of a partly written ack, which must go out first so the
/// producer never sees a broken record.
class AckWriter {
 public:
  /// Sends "every seq below next_seq is stored" if the socket takes it now; otherwise it is
  /// superseded by the next call. Fails only on a socket error.
  Status send(int fd, std::uint64_t next_seq);
  /// Sends `next_seq`, waiting up to `timeout` for room: used for the last ack of a stream.
  Status send_final(int fd, std::uint64_t next_seq, std::chrono::milliseconds timeout);

 private:
  Status flush(int fd);
  std::vector<std::uint8_t> unsent_;
};

}  // namespace sluice::source
