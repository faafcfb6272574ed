// GatedSocketStream: httplib's view of a connection that HeaderGate let through: first the bytes
// the gate already read, then the socket, with a per-call timeout and an overall deadline, so that
// no connection holds a worker for longer than the deadline.
#pragma once

#include <chrono>
#include <string>

#include <httplib.h>

namespace sluice::http {

class GatedSocketStream final : public httplib::Stream {
 public:
  /// Does not own `fd`. `timeout` bounds each wait for the socket; `deadline` all of them.
  GatedSocketStream(int fd, std::string received, std::chrono::milliseconds timeout,
                    std::chrono::steady_clock::time_point deadline);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // Waits for `events` on the socket within the timeout and the deadline.
  bool wait_for(short events) const;

  int fd_;
  std::string received_;
  std::size_t consumed_ = 0;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace sluice::http
