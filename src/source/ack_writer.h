// AckWriter: sends protocol-v2 acks on a non-blocking connection without ever blocking the reader.
#pragma once

#include <cstdint>
#include <vector>

#include "net/tls_transport.h"
#include "sluice/status.h"

namespace sluice::source {

/// Acks are cumulative, so only the newest value matters; what must not be lost is the unsent
/// tail of an ack the socket took in part (the producer must never see a broken record). When
/// the socket is full, blocked() says so: the caller waits for it to be writable (EPOLLOUT) and
/// calls flush(). Memory stays at one record per connection, however far behind the peer reads.
class AckWriter {
 public:
  /// Makes `next_seq` ("every seq below it is done") the newest ack, and sends what the socket
  /// takes now. Fails only on a socket (or TLS) error.
  Status send(net::Transport& io, std::uint64_t next_seq);
  /// Sends what is owed: the rest of a partial record, then the newest ack.
  Status flush(net::Transport& io);
  /// Bytes are owed and the socket took no more.
  bool blocked() const { return blocked_; }
  /// The newest value handed to send(), and the newest the peer has been sent in full.
  std::uint64_t wanted() const { return wanted_; }
  std::uint64_t delivered() const { return delivered_; }
  /// Every value handed to send() has been sent in full.
  bool caught_up() const { return !has_wanted_ || (has_delivered_ && delivered_ == wanted_); }

 private:
  std::vector<std::uint8_t> unsent_;  // the tail of a record the socket took in part
  std::uint64_t unsent_value_ = 0;
  std::uint64_t wanted_ = 0;
  std::uint64_t delivered_ = 0;
  bool has_wanted_ = false;
  bool has_delivered_ = false;
  bool blocked_ = false;
};

}  // namespace sluice::source
