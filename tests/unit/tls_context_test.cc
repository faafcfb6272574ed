// TLS contexts and the transport over a socket pair: errors that name the option and the file,
// reloads that keep the old context when the new files are bad, and handshakes that verify (or
// refuse) the client's certificate.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <thread>

#include "net/socket.h"
#include "net/tls_context.h"
#include "net/tls_transport.h"
#include "support/test_env.h"
#include "support/tls_certs.h"

namespace sluice::test {
namespace {
using net::Transport;

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("tls-context");
    ca_ = make_ca(dir_, "test-ca");
    server_ = make_leaf(dir_, "server", "server-one", ca_);
    client_ = make_leaf(dir_, "client", "producer-1", ca_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
  CertFiles ca_, server_, client_;
};

// Both ends of a connected, non-blocking socket pair, each with its transport.
struct Pair {
  net::Fd server_fd, client_fd;
  Pair() {
    std::array<int, 2> fds{};
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds.data()), 0);
    server_fd.reset(fds[0]);
    client_fd.reset(fds[1]);
  }
};

Transport server_transport(net::TlsServerContext& ctx, int fd) {
  auto ssl = ctx.new_session(fd);
  EXPECT_TRUE(ssl) << ssl.status().message();
  return ssl ? Transport(fd, std::move(*ssl)) : Transport(fd);
}

Transport client_transport(SSL_CTX* ctx, int fd, const std::string& server_name) {
  auto ssl = net::new_client_session(ctx, fd, server_name);
  EXPECT_TRUE(ssl) << ssl.status().message();
  return ssl ? Transport(fd, std::move(*ssl)) : Transport(fd);
}

struct Outcomes {
  Transport::Outcome server, client;
};

// Steps both handshakes in turn until neither waits (bounded); their last outcomes.
Outcomes handshake_both(Transport& server, Transport& client) {
  Transport::Outcome s{Transport::Io::kWantRead}, c{Transport::Io::kWantRead};
  for (int i = 0; i < 100; ++i) {
    const bool s_waits = s.io == Transport::Io::kWantRead || s.io == Transport::Io::kWantWrite;
    const bool c_waits = c.io == Transport::Io::kWantRead || c.io == Transport::Io::kWantWrite;
    if (!s_waits && !c_waits) break;
    if (c_waits) c = client.handshake();
    if (s_waits) s = server.handshake();
  }
  return {s, c};
}

TEST_F(TlsContextTest, MissingFilesAreNamedWithTheirOption) {
  auto no_cert = net::make_server_context({dir_ + "/absent.crt", server_.key, ""});
  ASSERT_FALSE(no_cert);
  EXPECT_NE(no_cert.status().message().find("--tls-cert " + dir_ + "/absent.crt"), std::string::npos)
      << no_cert.status().message();
  EXPECT_NE(no_cert.status().message().find("No such file"), std::string::npos) << no_cert.status().message();

  auto no_key = net::make_server_context({server_.cert, dir_ + "/absent.key", ""});
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.status().message().find("--tls-key " + dir_ + "/absent.key"), std::string::npos);

  auto no_ca = net::make_server_context({server_.cert, server_.key, dir_ + "/absent-ca.crt"});
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.status().message().find("--tls-ca " + dir_ + "/absent-ca.crt"), std::string::npos);
}

TEST_F(TlsContextTest, FilesThatAreNotPemAreNamedWithTheirOption) {
  const auto junk = write("junk.pem", "this is not a certificate\n");
  auto bad_cert = net::make_server_context({junk, server_.key, ""});
  ASSERT_FALSE(bad_cert);
  EXPECT_NE(bad_cert.status().message().find("--tls-cert " + junk), std::string::npos)
      << bad_cert.status().message();

  auto bad_key = net::make_server_context({server_.cert, junk, ""});
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.status().message().find("--tls-key " + junk), std::string::npos);

  // A key that is fine but belongs to another certificate.
  auto mismatch = net::make_server_context({server_.cert, client_.key, ""});
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.status().message().find("--tls-key " + client_.key), std::string::npos);
  EXPECT_NE(mismatch.status().message().find("does not match"), std::string::npos);

  auto bad_ca = net::make_client_context({junk, "", "", "localhost"});
  ASSERT_FALSE(bad_ca);
  EXPECT_NE(bad_ca.status().message().find("--tls-ca " + junk), std::string::npos);
  EXPECT_TRUE(net::make_server_context({server_.cert, server_.key, ca_.cert}));
}

TEST_F(TlsContextTest, AVerifiedClientCertificateGivesItsSubjectAndBytesFlow) {
  auto server_ctx = net::TlsServerContext::create({server_.cert, server_.key, ca_.cert});
  ASSERT_TRUE(server_ctx) << server_ctx.status().message();
  auto client_ctx = net::make_client_context({ca_.cert, client_.cert, client_.key, "localhost"});
  ASSERT_TRUE(client_ctx) << client_ctx.status().message();
  Pair pair;
  auto s_ssl = (*server_ctx)->new_session(pair.server_fd.get());
  auto c_ssl = net::new_client_session(client_ctx->get(), pair.client_fd.get(), "localhost");
  ASSERT_TRUE(s_ssl && c_ssl);
  Transport server(pair.server_fd.get(), std::move(*s_ssl));
  Transport client(pair.client_fd.get(), std::move(*c_ssl));
  ASSERT_EQ(handshake_both(server, client).server.io, Transport::Io::kOk);
  EXPECT_EQ(server.peer_subject(), "CN=producer-1");
  EXPECT_EQ(client.peer_subject(), "CN=server-one");
  EXPECT_EQ(server.protocol(), "TLSv1.3");

  const std::string text = "hello over tls";
  const auto sent = client.send({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  ASSERT_EQ(sent.io, Transport::Io::kOk);
  EXPECT_EQ(sent.bytes, text.size());
  // Two bytes at a time: the rest waits inside OpenSSL, where the socket shows nothing.
  std::array<std::uint8_t, 2> small{};
  auto got = server.recv(small);
  ASSERT_EQ(got.io, Transport::Io::kOk);
  EXPECT_EQ(got.bytes, 2u);
  EXPECT_TRUE(server.has_buffered_input());
  std::string received(reinterpret_cast<const char*>(small.data()), 2);
  std::array<std::uint8_t, 64> rest{};
  got = server.recv(rest);
  ASSERT_EQ(got.io, Transport::Io::kOk);
  received.append(reinterpret_cast<const char*>(rest.data()), got.bytes);
  EXPECT_EQ(received, text);
  EXPECT_FALSE(server.has_buffered_input());
  EXPECT_EQ(server.recv(rest).io, Transport::Io::kWantRead);
}

TEST_F(TlsContextTest, AClientWithoutACertificateOrFromAnotherCaIsRefusedAsCertificate) {
  auto server_ctx = net::TlsServerContext::create({server_.cert, server_.key, ca_.cert});
  ASSERT_TRUE(server_ctx);
  const auto other_ca = make_ca(dir_, "other-ca");
  const auto stranger = make_leaf(dir_, "stranger", "stranger", other_ca);
  for (const auto& identity : {CertFiles{}, stranger}) {
    auto client_ctx = net::make_client_context({ca_.cert, identity.cert, identity.key, "127.0.0.1"});
    ASSERT_TRUE(client_ctx) << client_ctx.status().message();
    Pair pair;
    Transport server = server_transport(**server_ctx, pair.server_fd.get());
    Transport client = client_transport(client_ctx->get(), pair.client_fd.get(), "127.0.0.1");
    const auto outcome = handshake_both(server, client).server;
    EXPECT_EQ(outcome.io, Transport::Io::kError) << identity.cert;
    EXPECT_EQ(outcome.refusal, net::TlsRefusal::kCertificate) << outcome.error.message();
  }
}

TEST_F(TlsContextTest, AServerCertificateForAnotherNameIsRefusedByTheProducer) {
  auto server_ctx = net::TlsServerContext::create({server_.cert, server_.key, ""});
  ASSERT_TRUE(server_ctx);
  auto client_ctx = net::make_client_context({ca_.cert, "", "", ""});
  ASSERT_TRUE(client_ctx);
  Pair pair;
  Transport server = server_transport(**server_ctx, pair.server_fd.get());
  Transport client = client_transport(client_ctx->get(), pair.client_fd.get(), "sluice.example");
  const auto c = handshake_both(server, client).client;
  EXPECT_EQ(c.io, Transport::Io::kError);
  EXPECT_NE(c.error.message().find("certificate verify failed"), std::string::npos) << c.error.message();
}

TEST_F(TlsContextTest, AReloadWithBadFilesKeepsTheOldContextAndNamesTheFile) {
  auto ctx = net::TlsServerContext::create({server_.cert, server_.key, ""}, std::chrono::milliseconds(0));
  ASSERT_TRUE(ctx);
  write("server.crt", "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  const auto failed = (*ctx)->reload();
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.message().find("--tls-cert " + server_.cert), std::string::npos) << failed.message();
  EXPECT_EQ((*ctx)->reloads(), 0u);

  // New connections still get the old certificate.
  auto client_ctx = net::make_client_context({ca_.cert, "", "", "localhost"});
  ASSERT_TRUE(client_ctx);
  {
    Pair pair;
    Transport server = server_transport(**ctx, pair.server_fd.get());
    Transport client = client_transport(client_ctx->get(), pair.client_fd.get(), "localhost");
    EXPECT_EQ(handshake_both(server, client).server.io, Transport::Io::kOk);
    EXPECT_EQ(client.peer_subject(), "CN=server-one");
  }

  // Good files again (a new certificate with its key): the next check loads them.
  const auto next = make_leaf(dir_, "server-next", "server-two", ca_);
  std::filesystem::rename(next.cert, server_.cert);
  std::filesystem::rename(next.key, server_.key);
  (*ctx)->maybe_reload();
  EXPECT_EQ((*ctx)->reloads(), 1u);
  Pair pair;
  Transport server = server_transport(**ctx, pair.server_fd.get());
  Transport client = client_transport(client_ctx->get(), pair.client_fd.get(), "localhost");
  EXPECT_EQ(handshake_both(server, client).server.io, Transport::Io::kOk);
  EXPECT_EQ(client.peer_subject(), "CN=server-two");
}

}  // namespace
}  // namespace sluice::test
