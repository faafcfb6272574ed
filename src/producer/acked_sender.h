// The at-least-once producer: protocol v2 with acknowledgements, re-sending after reconnects.
#pragma once

#include <chrono>
#include <string>

#include "producer/frame_sender.h"

namespace sluice::producer {

struct AckedSendOptions {
  SendOptions send;
  std::size_t window = 4096;  // most frames sent but not acknowledged, per connection
  /// Give up when a connection makes no progress (no connect, no ack) for this long.
  std::chrono::milliseconds give_up_after{120000};
  /// Sent in every hello: the producer's credential for a server with --tokens. Empty: none.
  std::string token{};
  /// The stream id of the first connection (the next ones take the ids after it); 0: random ids.
  /// With --tokens, the ids must be the identity's.
  std::uint64_t first_stream = 0;
};

/// Like send_frames, but each connection opens with a hello (a random producer stream id that
/// it keeps across reconnects), keeps every frame until the server acknowledges it, and after a
/// broken connection reconnects with backoff and re-sends from the last acknowledged frame.
/// `progress.frames` counts acknowledged frames. `tls` as for send_frames.
Result<SendSummary> send_frames_acked(const FrameSet& set, const net::Endpoint& to,
                                      const AckedSendOptions& options, SendProgress& progress,
                                      const net::TlsClient* tls = nullptr);

}  // namespace sluice::producer
