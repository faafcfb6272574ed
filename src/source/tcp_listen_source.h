// TcpListenSource (tcp-listen): many producers connect to us; each connection is one stream.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>

#include "net/socket.h"
#include "source/frame_stream_reader.h"
#include "source/source.h"

namespace sluice::source {

struct TcpListenOptions {
  net::Endpoint endpoint;
  std::size_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
  std::size_t max_connections = 1024;
  /// A connection that completes no frame for this long is closed. Counting whole frames, not
  /// bytes, also closes slow-loris connections that send a byte now and then.
  std::chrono::milliseconds idle_timeout{60000};
};

/// One thread runs an epoll loop over the listening socket and every connection. When the
/// pipeline is full, FrameSink::store blocks that thread, so no socket is read until there is
/// room again and TCP flow control pushes back on every producer.
class TcpListenSource final : public Source {
 public:
  explicit TcpListenSource(TcpListenOptions options);
  ~TcpListenSource() override;

  std::string name() const override;
  Status start(FrameSink& sink) override;
  void stop() override;
  /// The bound endpoint (its port is the real one when 0 was asked for). Valid after start().
  const net::Endpoint& bound() const { return bound_; }

 private:
  struct Connection {
    net::Fd fd;
    std::string peer;
    FrameStreamReader reader;
    std::uint64_t frames_at_check = 0;  // reader.frames() at the last idle check
    Clock::time_point last_progress = Clock::now();
  };
  void run();
  void close_idle_connections();
  void accept_all();
  void read_connection(int fd);
  void close_connection(int fd, const Status& why);

  TcpListenOptions options_;
  net::Endpoint bound_;
  FrameSink* sink_ = nullptr;
  net::Fd listener_, epoll_, wake_;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace sluice::source
