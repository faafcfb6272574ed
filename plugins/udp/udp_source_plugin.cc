// udp: a source plugin for small frames, one per datagram, as an example of an unreliable source
// that counts what it drops. Each datagram is one wire-format record: a 28-byte NUL-padded name, a
// 4-byte big-endian length, then exactly that many payload bytes.
//
//   --source 'plugin:libsluice_udp.so?bind=127.0.0.1:9998'
// Keys: bind (required, HOST:PORT), max_frame_bytes (65475: the most a datagram can carry),
// rcvbuf (socket receive buffer bytes; the kernel's default when absent).
// A datagram that is shorter than its header, declares a bad length or carries extra bytes
// (malformed), carries fewer bytes than it declares (truncated), or is too large (oversize) is
// dropped and reported through report_error: each one is counted in the source's errors.
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/plugin_util.h"
#include "sluice/source_plugin.h"

namespace {
using sluice::plugin_util::write_error;

constexpr std::size_t kHeaderBytes = 32;
constexpr std::size_t kNameBytes = 28;
constexpr std::size_t kMaxDatagram = 65507;  // IPv4 UDP payload limit

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace

struct SluiceSourceInstance {
  const SluiceHostApi* api = nullptr;
  SluiceHost* host = nullptr;
  std::string bind_host;
  std::string bind_port;
  std::size_t max_frame_bytes = kMaxDatagram - kHeaderBytes;
  int rcvbuf = 0;
  UniqueFd socket;
  UniqueFd wake;
  std::thread thread;
  // Counters over the instance's life.
  std::atomic<std::uint64_t> received{0}, stored{0}, malformed{0}, truncated{0}, oversize{0};

  void run();
  void drop(std::atomic<std::uint64_t>& counter, const std::string& why) {
    ++counter;
    api->report_error(host, ("udp: dropped a datagram: " + why).c_str());
  }
};

void SluiceSourceInstance::run() {
  // One byte more than the largest datagram, so MSG_TRUNC tells an oversize one apart.
  std::vector<std::uint8_t> buffer(kMaxDatagram + 1);
  while (api->is_stopped(host) == 0) {
    std::array<pollfd, 2> fds{pollfd{socket.get(), POLLIN, 0}, pollfd{wake.get(), POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), 200) <= 0) continue;  // timeout or EINTR: check is_stopped
    if ((fds[1].revents & POLLIN) != 0) break;
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(socket.get(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      api->request_restart(host, (std::string("udp: recvmsg: ") + std::strerror(errno)).c_str());
      break;
    }
    ++received;
    const auto size = static_cast<std::size_t>(n);
    if ((msg.msg_flags & MSG_TRUNC) != 0 || size > kMaxDatagram) {
      drop(oversize, "oversize: larger than a UDP datagram can be");
      continue;
    }
    if (size < kHeaderBytes) {
      drop(malformed, "malformed: " + std::to_string(size) + " bytes, shorter than the 32-byte header");
      continue;
    }
    std::uint32_t be = 0;
    std::memcpy(&be, buffer.data() + kNameBytes, sizeof be);
    const auto length = static_cast<std::int32_t>(ntohl(be));
    const std::size_t carried = size - kHeaderBytes;
    if (length <= 0) {
      drop(malformed, "malformed: length " + std::to_string(length));
      continue;
    }
    if (static_cast<std::size_t>(length) > max_frame_bytes) {
      drop(oversize, "oversize: length " + std::to_string(length) +
                         " is over max_frame_bytes=" + std::to_string(max_frame_bytes));
      continue;
    }
    if (carried < static_cast<std::size_t>(length)) {
      drop(truncated, "truncated: carries " + std::to_string(carried) + " of " + std::to_string(length) +
                          " payload bytes");
      continue;
    }
    if (carried > static_cast<std::size_t>(length)) {
      drop(malformed, "malformed: " + std::to_string(carried - static_cast<std::size_t>(length)) +
                          " bytes after the payload");
      continue;
    }
    std::size_t name_size = strnlen(reinterpret_cast<const char*>(buffer.data()), kNameBytes);
    while (name_size > 0 && buffer[name_size - 1] == ' ') --name_size;
    // The buffer is reused for the next datagram: no release callback, so sluice copies.
    const SluiceFrame frame{reinterpret_cast<const char*>(buffer.data()),
                            name_size,
                            buffer.data() + kHeaderBytes,
                            carried,
                            nullptr,
                            nullptr};
    if (api->store_one(host, &frame) != SLUICE_SOURCE_OK) break;
    ++stored;
  }
}

namespace {

bool split_host_port(const std::string& text, std::string& host, std::string& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return true;
}

SluiceSourceInstance* create(const SluiceConfigEntry* config, size_t count, const SluiceHostApi* api,
                             SluiceHost* host, char* error, size_t error_size) {
  auto self = std::make_unique<SluiceSourceInstance>();
  self->api = api;
  self->host = host;
  bool have_bind = false;
  for (size_t i = 0; i < count; ++i) {
    const std::string key = config[i].key;
    const std::string value = config[i].value;
    if (key == "bind") {
      have_bind = split_host_port(value, self->bind_host, self->bind_port);
      if (!have_bind) {
        write_error(error, error_size, "bind=" + value + " is not HOST:PORT");
        return nullptr;
      }
    } else if (key == "max_frame_bytes") {
      auto v = sluice::plugin_util::parse_u64(value, 1, kMaxDatagram - kHeaderBytes);
      if (!v) {
        write_error(error, error_size, "max_frame_bytes=" + value + " is not in 1..65475");
        return nullptr;
      }
      self->max_frame_bytes = static_cast<std::size_t>(*v);
    } else if (key == "rcvbuf") {
      auto v = sluice::plugin_util::parse_u64(value, 1, 1u << 30);
      if (!v) {
        write_error(error, error_size, "rcvbuf=" + value + " is not a byte count");
        return nullptr;
      }
      self->rcvbuf = static_cast<int>(*v);
    } else {
      write_error(error, error_size, "unknown key '" + key + "' (known: bind, max_frame_bytes, rcvbuf)");
      return nullptr;
    }
  }
  if (!have_bind) {
    write_error(error, error_size, "bind=HOST:PORT is required");
    return nullptr;
  }
  return self.release();  // owned by sluice until destroy
}

int start(SluiceSourceInstance* self, char* error, size_t error_size) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(self->bind_host.c_str(), self->bind_port.c_str(), &hints, &found);
      rc != 0) {
    write_error(error, error_size,
                "cannot resolve " + self->bind_host + ":" + self->bind_port + ": " + gai_strerror(rc));
    return SLUICE_SOURCE_FAILED;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  UniqueFd fd(::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    write_error(error, error_size, std::string("socket: ") + std::strerror(errno));
    return SLUICE_SOURCE_FAILED;
  }
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (self->rcvbuf > 0) ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &self->rcvbuf, sizeof self->rcvbuf);
  if (::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0) {
    write_error(error, error_size,
                "bind " + self->bind_host + ":" + self->bind_port + ": " + std::strerror(errno));
    return SLUICE_SOURCE_FAILED;
  }
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) {
    write_error(error, error_size, std::string("eventfd: ") + std::strerror(errno));
    return SLUICE_SOURCE_FAILED;
  }
  self->socket = std::move(fd);
  self->wake = std::move(wake);
  self->thread = std::thread([self] { self->run(); });
  const std::string note = "listening on udp " + self->bind_host + ":" + self->bind_port;
  self->api->log(self->host, SLUICE_LOG_INFO, note.c_str());
  return SLUICE_SOURCE_OK;
}

void stop(SluiceSourceInstance* self) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(self->wake.get(), &one, sizeof one);
  if (self->thread.joinable()) self->thread.join();
  self->socket.reset();
  self->wake.reset();
  const std::string summary =
      "received " + std::to_string(self->received.load()) + " datagrams, stored " +
      std::to_string(self->stored.load()) + ", dropped " +
      std::to_string(self->malformed.load() + self->truncated.load() + self->oversize.load()) + " (" +
      std::to_string(self->malformed.load()) + " malformed, " + std::to_string(self->truncated.load()) +
      " truncated, " + std::to_string(self->oversize.load()) + " oversize)";
  self->api->log(self->host, SLUICE_LOG_INFO, summary.c_str());
}

void destroy(SluiceSourceInstance* self) {
  std::unique_ptr<SluiceSourceInstance> owned(self);
}

constexpr SluiceSourcePlugin kPlugin{
    SLUICE_SOURCE_ABI_VERSION, sizeof(SluiceSourcePlugin), "udp", create, start, stop, destroy};

}  // namespace

extern "C" SLUICE_PLUGIN_EXPORT const SluiceSourcePlugin* sluice_source_plugin(void) {
  return &kPlugin;
}
