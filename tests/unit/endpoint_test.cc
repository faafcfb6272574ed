// Tests for endpoint parsing and the TCP helpers, over real loopback sockets.
#include "net/socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "sluice/status.h"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;

// Waits (bounded) for a pending connection on `listener`, then accepts it.
Fd accept_within(int listener, std::chrono::milliseconds timeout) {
  pollfd pfd{listener, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return Fd{};
  return Fd(::accept(listener, nullptr, nullptr));
}

TEST(EndpointTest, ParsesIpv4) {
  auto ep = parse_endpoint("127.0.0.1:80");
  ASSERT_TRUE(ep.is_ok()) << ep.status().to_string();
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 80);
  EXPECT_EQ(ep->to_string(), "127.0.0.1:80");
}

TEST(EndpointTest, ParsesBracketedIpv6) {
  auto ep = parse_endpoint("[::1]:9000");
  ASSERT_TRUE(ep.is_ok()) << ep.status().to_string();
  EXPECT_EQ(ep->host, "::1");
  EXPECT_EQ(ep->port, 9000);
  EXPECT_EQ(ep->to_string(), "[::1]:9000");
}

TEST(EndpointTest, ParsesHostNameAndPortZero) {
  auto ep = parse_endpoint("localhost:0");
  ASSERT_TRUE(ep.is_ok()) << ep.status().to_string();
  EXPECT_EQ(ep->host, "localhost");
  EXPECT_EQ(ep->port, 0);
}

TEST(EndpointTest, ParsesTheHighestPort) {
  auto ep = parse_endpoint("10.0.0.1:65535");
  ASSERT_TRUE(ep.is_ok());
  EXPECT_EQ(ep->port, 65535);
}

TEST(EndpointTest, RejectsMalformedEndpoints) {
  for (const char* text : {"nohost", "1.2.3.4:99999", "1.2.3.4:", "[::1]9000", "[::1",
                           "[::1]:", "1.2.3.4:80x", "1.2.3.4:-1", "1.2.3.4:65536", "1.2.3.4: 80", ""}) {
    SCOPED_TRACE(text);
    auto ep = parse_endpoint(text);
    ASSERT_FALSE(ep.is_ok()) << "parsed as " << ep->to_string();
    EXPECT_EQ(ep.status().code(), Code::kInvalidArgument);
  }
}

TEST(EndpointTest, FdIsMoveOnlyAndCloses) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Fd write_end(fds[1]);
  {
    Fd a(fds[0]);
    EXPECT_TRUE(a.valid());
    Fd b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_EQ(b.get(), fds[0]);
    EXPECT_NE(::fcntl(fds[0], F_GETFD), -1);
  }
  // Destroying the owner closed the descriptor.
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(EndpointTest, ListenOnPortZeroPicksAPort) {
  auto listener = listen_tcp(Endpoint{"127.0.0.1", 0}, false);
  ASSERT_TRUE(listener.is_ok()) << listener.status().to_string();
  ASSERT_TRUE(listener->valid());
  auto local = local_endpoint(listener->get());
  ASSERT_TRUE(local.is_ok()) << local.status().to_string();
  EXPECT_EQ(local->host, "127.0.0.1");
  EXPECT_NE(local->port, 0);
}

TEST(EndpointTest, ConnectAndRoundTripBytes) {
  auto listener = listen_tcp(Endpoint{"127.0.0.1", 0}, false);
  ASSERT_TRUE(listener.is_ok()) << listener.status().to_string();
  auto local = local_endpoint(listener->get());
  ASSERT_TRUE(local.is_ok());

  auto client = connect_tcp(*local, 5000ms);
  ASSERT_TRUE(client.is_ok()) << client.status().to_string();
  Fd server = accept_within(listener->get(), 10000ms);
  ASSERT_TRUE(server.valid()) << "no connection to accept";
  EXPECT_NE(peer_name(server.get()), "?");

  // Large enough that write_all has to loop while the peer reads (more than socket buffers).
  std::vector<std::uint8_t> sent(4 << 20);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::uint8_t>((i * 131) ^ (i >> 8));
  std::vector<std::uint8_t> received(sent.size());
  Status read_status(Code::kInternal, "reader did not run");
  std::thread reader([&] { read_status = read_exact(server.get(), received); });
  const Status write_status = write_all(client->get(), sent);
  reader.join();
  ASSERT_TRUE(write_status.is_ok()) << write_status.to_string();
  ASSERT_TRUE(read_status.is_ok()) << read_status.to_string();
  EXPECT_EQ(received, sent);

  // And back the other way, a small message.
  const std::vector<std::uint8_t> reply = {'o', 'k'};
  ASSERT_TRUE(write_all(server.get(), reply).is_ok());
  std::vector<std::uint8_t> got(2);
  ASSERT_TRUE(read_exact(client->get(), got).is_ok());
  EXPECT_EQ(got, reply);
}

TEST(EndpointTest, Ipv6LoopbackRoundTrip) {
  auto listener = listen_tcp(Endpoint{"::1", 0}, false);
  if (!listener.is_ok()) GTEST_SKIP() << "no IPv6 loopback here: " << listener.status().to_string();
  auto local = local_endpoint(listener->get());
  ASSERT_TRUE(local.is_ok()) << local.status().to_string();
  EXPECT_EQ(local->host, "::1");
  EXPECT_NE(local->port, 0);
  auto client = connect_tcp(*local, 5000ms);
  ASSERT_TRUE(client.is_ok()) << client.status().to_string();
  Fd server = accept_within(listener->get(), 10000ms);
  ASSERT_TRUE(server.valid());
  const std::vector<std::uint8_t> message = {1, 2, 3};
  ASSERT_TRUE(write_all(client->get(), message).is_ok());
  std::vector<std::uint8_t> got(3);
  ASSERT_TRUE(read_exact(server.get(), got).is_ok());
  EXPECT_EQ(got, message);
}

TEST(EndpointTest, ReadExactReportsClosedPeer) {
  auto listener = listen_tcp(Endpoint{"127.0.0.1", 0}, false);
  ASSERT_TRUE(listener.is_ok());
  auto local = local_endpoint(listener->get());
  ASSERT_TRUE(local.is_ok());
  auto client = connect_tcp(*local, 5000ms);
  ASSERT_TRUE(client.is_ok()) << client.status().to_string();
  Fd server = accept_within(listener->get(), 10000ms);
  ASSERT_TRUE(server.valid());

  // A clean close before any byte is kClosed.
  client->reset();
  std::vector<std::uint8_t> buffer(4);
  const Status st = read_exact(server.get(), buffer);
  EXPECT_EQ(st.code(), Code::kClosed) << st.to_string();
}

TEST(EndpointTest, ReadExactReportsTruncation) {
  auto listener = listen_tcp(Endpoint{"127.0.0.1", 0}, false);
  ASSERT_TRUE(listener.is_ok());
  auto local = local_endpoint(listener->get());
  ASSERT_TRUE(local.is_ok());
  auto client = connect_tcp(*local, 5000ms);
  ASSERT_TRUE(client.is_ok()) << client.status().to_string();
  Fd server = accept_within(listener->get(), 10000ms);
  ASSERT_TRUE(server.valid());

  const std::vector<std::uint8_t> two = {1, 2};
  ASSERT_TRUE(write_all(client->get(), two).is_ok());
  client->reset();
  std::vector<std::uint8_t> buffer(4);
  const Status st = read_exact(server.get(), buffer);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kIo) << st.to_string();
}

TEST(EndpointTest, ConnectToAPortWithNothingListeningFails) {
  // Hold a bound, non-listening socket so no one else can take the port: connecting is refused.
  Fd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(holder.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  auto local = local_endpoint(holder.get());
  ASSERT_TRUE(local.is_ok());
  ASSERT_NE(local->port, 0);

  auto client = connect_tcp(*local, 5000ms);
  ASSERT_FALSE(client.is_ok());
  EXPECT_EQ(client.status().code(), Code::kIo);
  EXPECT_TRUE(client.status().message().find(local->to_string()) != std::string::npos)
      << client.status().message();
}

TEST(EndpointTest, NonBlockingListenerHasNoPendingConnection) {
  auto listener = listen_tcp(Endpoint{"127.0.0.1", 0}, true);
  ASSERT_TRUE(listener.is_ok());
  const int fd = ::accept(listener->get(), nullptr, nullptr);
  EXPECT_EQ(fd, -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
}

}  // namespace
}  // namespace sluice::net
