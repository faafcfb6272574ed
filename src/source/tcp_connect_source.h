// TcpConnectSource (tcp-connect): we dial a producer that serves frames, as Spark's
// socketStream does, and reconnect with exponential backoff when it goes away.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "net/socket.h"
#include "source/source.h"
#include "util/mutex.h"
#include "wire/frame_codec.h"

namespace sluice::source {

struct TcpConnectOptions {
  net::Endpoint endpoint;
  std::size_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds connect_timeout{2000};
};

class TcpConnectSource final : public Source {
 public:
  explicit TcpConnectSource(TcpConnectOptions options) : options_(std::move(options)) {}
  ~TcpConnectSource() override;

  std::string name() const override;
  Status start(FrameSink& sink) override;
  void stop() override;

 private:
  void run();
  /// Reads one connection until it ends. Returns true if any frame arrived (resets backoff).
  bool read_session(net::Fd& fd, std::uint64_t stream);
  /// Sleeps for `d` unless stop() is called first; returns false when stopping.
  bool sleep_unless_stopped(std::chrono::milliseconds d);

  TcpConnectOptions options_;
  FrameSink* sink_ = nullptr;
  net::Fd wake_;
  std::atomic<bool> stopping_{false};
  Mutex mu_;  // for stop_cv_ (stopping_ is atomic)
  CondVar stop_cv_;
  std::thread thread_;
};

}  // namespace sluice::source
