// End to end: the --http endpoint under hostile clients (issue 18). Bodies are refused unread, slow
// headers neither starve /metrics nor live past the header deadline, foreign Host headers (DNS
// rebinding) get 403; an honest producer is served throughout.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "net/socket.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;

std::optional<net::Fd> connect_to(std::uint16_t port) {
  auto fd = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  if (!fd) return std::nullopt;
  timeval timeout{10, 0};
  setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return std::move(*fd);
}

bool send_text(int fd, const std::string& text) {
  return ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

// Everything the server sends until it closes (or 10 s of silence).
std::string read_to_close(int fd) {
  std::string raw;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  return raw;
}

int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return 0;
  return std::atoi(raw.substr(9, 3).c_str());
}

// One raw request; the status of the reply (0: none).
HttpReply request(std::uint16_t port, const std::string& text) {
  HttpReply reply;
  auto fd = connect_to(port);
  if (!fd || !send_text(fd->get(), text)) return reply;
  const auto raw = read_to_close(fd->get());
  reply.status = status_of(raw);
  const auto end = raw.find("\r\n\r\n");
  if (end != std::string::npos) {
    reply.headers = raw.substr(0, end);
    reply.body = raw.substr(end + 4);
  }
  return reply;
}

std::uint64_t resident_kib(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

double rejected(const ServeProcess& serve, const std::string& reason) {
  return sum_of(serve.metrics(), fmt::format("sluice_http_rejected_total{{reason=\"{}\"}}", reason));
}

TEST(HttpHardening, AHugePostIsRefusedUnreadAndResidentMemoryStaysBounded) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "http-post", .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const auto before = resident_kib(serve.pid());
  ASSERT_GT(before, 0u);

  auto fd = connect_to(serve.http_port());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(send_text(fd->get(),
                        "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 536870912\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n"));
  // The refusal comes before any of the body is sent.
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  // The body (which names the rule) may come in a segment of its own.
  const auto length_at = head.find("Content-Length: ");
  const std::size_t body_length =
      length_at == std::string::npos ? 0 : std::stoul(head.substr(length_at + 16, 12));
  while (head.find("\r\n\r\n") != std::string::npos &&
         head.size() < head.find("\r\n\r\n") + 4 + body_length) {
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(status_of(head), 413) << head;
  EXPECT_NE(head.find("rule:"), std::string::npos) << head;
  // Sending the body anyway: the connection is closed long before 512 MiB get through.
  const std::string chunk(1 << 20, 'x');
  std::size_t sent = 0;
  while (sent < (512u << 20)) {
    const ssize_t n = ::send(fd->get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  EXPECT_LT(sent, 512u << 20) << "the server kept reading the body";

  // Also without waiting for the answer: the whole body pushed at once.
  auto pushed = connect_to(serve.http_port());
  ASSERT_TRUE(pushed);
  ASSERT_TRUE(send_text(pushed->get(),
                        "POST /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Length: 536870912\r\n\r\n"));
  std::size_t pushed_bytes = 0;
  while (pushed_bytes < (512u << 20)) {
    const ssize_t n = ::send(pushed->get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    pushed_bytes += static_cast<std::size_t>(n);
  }
  EXPECT_LT(pushed_bytes, 512u << 20);

  const auto after = resident_kib(serve.pid());
  EXPECT_LT(after, before + 64 * 1024) << "resident KiB before " << before << ", after " << after;
  EXPECT_EQ(serve.get("/metrics").status, 200);
  // The second refusal may be counted a moment after its connection is closed (a loaded machine).
  EXPECT_TRUE(eventually([&] { return rejected(serve, "body") >= 2; }, 10s, 50ms))
      << "body rejections: " << rejected(serve, "body");
  // A small body on a GET is refused too, and other methods are not served.
  EXPECT_EQ(
      request(serve.http_port(), "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc")
          .status,
      413);
  const auto put = request(serve.http_port(), "PUT /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(put.status, 405);
  EXPECT_NE(put.headers.find("Allow: GET, HEAD"), std::string::npos) << put.headers;
  EXPECT_EQ(request(serve.http_port(), "DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 405);
  EXPECT_EQ(request(serve.http_port(), "HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 200);
  EXPECT_GE(rejected(serve, "method"), 2);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
}

TEST(HttpHardening, SlowHeaderConnectionsNeitherStarveMetricsNorOutliveTheHeaderDeadline) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  ServeProcess serve({.tag = "http-slow", .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  // Eight clients that start a request and never finish its headers.
  std::vector<net::Fd> slow;
  for (int i = 0; i < 8; ++i) {
    auto fd = connect_to(serve.http_port());
    ASSERT_TRUE(fd);
    ASSERT_TRUE(send_text(fd->get(), "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    slow.push_back(std::move(*fd));
  }
  // An honest producer, and the scrapers, are served meanwhile.
  auto send = spawn_send(serve.dir(), serve.port(), {"--limit", "200", "--rate", "400", fashion_images()});
  for (int round = 0; round < 5; ++round) {
    for (const std::string path : {"/metrics", "/api/status"}) {
      int status = 0;
      for (int attempt = 0; attempt < 3 && status != 200; ++attempt) status = serve.get(path).status;
      EXPECT_EQ(status, 200) << path << " in round " << round;
    }
    for (auto& fd : slow) send_text(fd.get(), "x");  // one more header byte each
  }
  // Trickling on: each slow connection is answered 408 and closed at the header deadline.
  int closed = 0;
  for (int tick = 0; tick < 120 && closed < 8; ++tick) {
    closed = 0;
    for (auto& fd : slow) {
      if (!fd.valid()) {
        ++closed;
        continue;
      }
      char buf[512];
      const ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
          (n > 0 && status_of(std::string(buf, static_cast<std::size_t>(n))) == 408)) {
        fd.reset();
        ++closed;
      } else {
        send_text(fd.get(), "x");
      }
    }
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(closed, 8) << "slow-header connections still open after 30 s";
  EXPECT_GE(rejected(serve, "header_timeout"), 8);
  ASSERT_EQ(send.wait(120s), 0) << read_file(serve.dir() + "/send.err");
  EXPECT_EQ(serve.wait_for_lines(200), 200u);
  // Oversized headers are refused at the limit, not buffered.
  const auto huge =
      request(serve.http_port(),
              "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(huge.status, 431);
  EXPECT_EQ(serve.get("/api/status").status, 200);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
}

TEST(HttpHardening, AForeignHostIsRefusedAndAllowedHostsAreServed) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve(
      {.tag = "http-host", .args = {"--http-allowed-hosts", "sluice.example, metrics.lan"}, .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const auto port = serve.http_port();
  auto get_with_host = [&](const std::string& host) {
    return request(port, fmt::format("GET /api/status HTTP/1.1\r\nHost: {}\r\n\r\n", host));
  };
  const auto foreign = get_with_host(fmt::format("rebind.attacker.example:{}", port));
  EXPECT_EQ(foreign.status, 403);
  EXPECT_NE(foreign.body.find("--http-allowed-hosts"), std::string::npos) << foreign.body;
  EXPECT_EQ(foreign.body.find("\"sources\""), std::string::npos) << "the status leaked";
  for (const std::string& host : std::vector<std::string>{
           fmt::format("127.0.0.1:{}", port), "localhost", fmt::format("localhost:{}", port), "[::1]:80",
           "sluice.example", "SLUICE.example:8080", "metrics.lan"}) {
    EXPECT_EQ(get_with_host(host).status, 200) << host;
  }
  EXPECT_EQ(get_with_host("sluice.example.attacker.example").status, 403);
  EXPECT_EQ(rejected(serve, "host"), 2);
  EXPECT_TRUE(serve.wait_for_log("rule: --http-allowed-hosts")) << serve.log();
  ASSERT_EQ(serve.stop(), 0) << serve.log();
}

}  // namespace
}  // namespace sluice::test
