// HeaderGate: holds each new --http connection until its request headers have arrived whole, on one
// poll thread, so that slow or stalled clients (slowloris) never occupy a worker. A connection whose
// headers are not complete within the deadline, or grow past the size limit, is answered and closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "http/http_rejections.h"
#include "util/mutex.h"

namespace sluice::http {

struct HeaderGateLimits {
  std::chrono::milliseconds header_deadline{10000};  // from accept to the blank line ending the headers
  std::size_t max_header_bytes = 16 * 1024;          // request line and headers together
  std::size_t max_pending = 256;                     // connections still sending headers
};

class HeaderGate {
 public:
  /// Takes the socket and what was read of it (the headers, perhaps the start of a body).
  using Ready = std::function<void(int fd, std::string received)>;

  /// `ready` runs on the gate's thread and must not block. `rejections` must outlive the gate.
  HeaderGate(HeaderGateLimits limits, Ready ready, HttpRejections& rejections);
  ~HeaderGate();  // closes the connections still waiting, joins the thread
  HeaderGate(const HeaderGate&) = delete;
  HeaderGate& operator=(const HeaderGate&) = delete;

  /// Takes ownership of an accepted socket. Thread-safe.
  void add(int fd);

 private:
  struct Pending {
    int fd;
    std::chrono::steady_clock::time_point deadline;
    std::string received;
  };
  void run();
  void take_new(std::vector<Pending>& pending);
  // Reads what `p` has sent; true when the connection is finished with (handed on or closed).
  bool read_some(Pending& p);
  void refuse(Pending& p, RejectReason reason, std::string_view response, std::string_view detail);

  const HeaderGateLimits limits_;
  const Ready ready_;
  HttpRejections& rejections_;
  int wake_fd_ = -1;  // eventfd: add() and the destructor wake the poll
  Mutex mu_;
  std::vector<int> incoming_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sluice::http
