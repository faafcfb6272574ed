// The producer side of the wire: stream a FrameSet over TCP, either by connecting to a pipeline
// (sluice serve --listen) or by serving it to pipelines that connect (sluice serve --connect).
#pragma once

#include <atomic>
#include <functional>

#include "net/socket.h"
#include "producer/frame_set.h"

namespace sluice::net {
struct TlsClient;
}

namespace sluice::producer {

struct SendOptions {
  double rate = 0.0;    // frames per second over all connections; 0 = as fast as possible
  int connections = 1;  // frame g of the repeated sequence (set, set, ...) goes to connection g % connections
  int repeat = 1;       // the set is sent this many times
};

struct SendSummary {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  double seconds = 0.0;
  double frames_per_second() const { return seconds > 0 ? static_cast<double>(frames) / seconds : 0.0; }
};

/// Shared progress of a running send, readable from another thread.
struct SendProgress {
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> cancel{false};
};

/// Opens `options.connections` connections to `to` and sends the set on them in parallel; each
/// connection ends with the end-of-stream record. With `tls` (send --tls-ca), each connection
/// verifies the server and presents a client certificate if `tls` has one; nullptr: plain TCP.
Result<SendSummary> send_frames(const FrameSet& set, const net::Endpoint& to, const SendOptions& options,
                                SendProgress& progress, const net::TlsClient* tls = nullptr);

/// Listens on `at` and serves the whole set to each of `options.connections` clients, then
/// returns. `on_listening` receives the bound endpoint once the socket is ready.
Result<SendSummary> serve_frames(const FrameSet& set, const net::Endpoint& at, const SendOptions& options,
                                 SendProgress& progress,
                                 const std::function<void(const net::Endpoint&)>& on_listening);

}  // namespace sluice::producer
