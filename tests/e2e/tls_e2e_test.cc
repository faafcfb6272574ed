// TLS on `sluice serve --listen` against the real binary: certificates made at test time with the
// openssl command line. A producer with a certificate the CA signed gets every line; strangers
// (plaintext, no certificate, another CA's certificate, TLS 1.1) get none and are counted, while
// the honest producer keeps being served; a SIGHUP reload serves the new certificate to new
// connections and keeps the open one streaming.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "support/child_process.h"
#include "support/results.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/tls_certs.h"
#include "support/wait.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;

// The CA, the server's and a producer's certificates, and a stranger with a CA of its own.
struct Pki {
  explicit Pki(const std::string& dir)
      : ca(make_ca(dir, "test-ca")),
        server(make_leaf(dir, "server", "server-one", ca)),
        producer(make_leaf(dir, "producer", "producer-1", ca)),
        other_ca(make_ca(dir, "other-ca")),
        stranger(make_leaf(dir, "stranger", "stranger", other_ca)) {}
  CertFiles ca, server, producer, other_ca, stranger;
  std::vector<std::string> serve_flags() const {
    return {"--tls-cert", server.cert, "--tls-key", server.key, "--tls-ca", ca.cert};
  }
  std::vector<std::string> producer_flags() const {
    return {"--tls-ca", ca.cert, "--tls-cert", producer.cert, "--tls-key", producer.key};
  }
};

// `sluice send --to 127.0.0.1:PORT ARGS...`, its output in dir/TAG.out and dir/TAG.err.
ChildProcess spawn_sender(const std::string& dir, const std::string& tag, std::uint16_t port,
                          const std::vector<std::string>& args) {
  std::vector<std::string> argv{sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess::spawn(argv, dir + "/" + tag + ".out", dir + "/" + tag + ".err");
}

std::vector<std::string> with(std::vector<std::string> flags, const std::vector<std::string>& more) {
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

// The value of the TLS refusal counter for `reason` (0 when absent).
double refused(const MetricSamples& m, const std::string& reason) {
  double sum = 0;
  for (const auto& [key, value] : m) {
    if (key.rfind("sluice_ingest_refused_total{", 0) == 0 &&
        key.find(fmt::format("reason=\"{}\"", reason)) != std::string::npos) {
      sum += value;
    }
  }
  return sum;
}

// What `openssl s_client` prints for a connection to the port (its stdin is empty, so it ends).
std::string s_client(std::uint16_t port, const std::string& flags, int* status = nullptr) {
  std::string out;
  const int rc =
      run_shell(fmt::format("{} s_client -connect 127.0.0.1:{} {} </dev/null", kOpenssl, port, flags), &out);
  if (status != nullptr) *status = rc;
  return out;
}

TEST(TlsEndToEnd, ATrustedProducerGetsEveryLineAndStrangersNone) {
  SLUICE_REQUIRE_SETUP(fashion_bundle(), fashion_images(), kOpenssl);
  const auto dir = make_temp_dir("tls-strangers");
  const Pki pki(dir);
  const auto good = dir + "/good", bad = dir + "/bad";
  std::filesystem::create_directories(good);
  std::filesystem::create_directories(bad);
  write_fashion_pngs(good, 0, 30);
  write_fashion_pngs(bad, 100, 10);

  ServeProcess serve({.tag = "tls-strangers", .args = pki.serve_flags(), .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();

  // The honest producer streams while the strangers knock.
  auto honest = spawn_sender(dir, "honest", serve.port(), with(pki.producer_flags(), {"--rate", "15", good}));
  ASSERT_TRUE(serve.wait_for_lines(1) >= 1) << serve.log();

  auto plaintext = spawn_sender(dir, "plaintext", serve.port(), {bad});
  auto no_cert = spawn_sender(dir, "no-cert", serve.port(), {"--tls-ca", pki.ca.cert, bad});
  auto other_ca = spawn_sender(
      dir, "other-ca", serve.port(),
      {"--tls-ca", pki.ca.cert, "--tls-cert", pki.stranger.cert, "--tls-key", pki.stranger.key, bad});
  int tls11_status = 0;
  const auto tls11 = s_client(serve.port(), "-tls1_1 -cipher DEFAULT@SECLEVEL=0", &tls11_status);
  EXPECT_NE(tls11_status, 0) << tls11;
  for (auto* stranger : {&plaintext, &no_cert, &other_ca}) EXPECT_TRUE(stranger->wait(60s).has_value());

  const auto m = serve.wait_for_metrics([](const MetricSamples& s) {
    return refused(s, "tls_protocol") >= 1 && refused(s, "tls_certificate") >= 2 &&
           refused(s, "tls_version") >= 1;
  });
  EXPECT_GE(refused(m, "tls_protocol"), 1) << serve.log();     // the plaintext producer
  EXPECT_GE(refused(m, "tls_certificate"), 2) << serve.log();  // no certificate; another CA's
  EXPECT_GE(refused(m, "tls_version"), 1) << serve.log();      // TLS 1.1

  // The honest producer finished, and a second one after the strangers is served too.
  ASSERT_EQ(honest.wait(120s), 0) << read_file(dir + "/honest.err");
  auto after = spawn_sender(dir, "after", serve.port(), with(pki.producer_flags(), {good}));
  ASSERT_EQ(after.wait(120s), 0) << read_file(dir + "/after.err");
  EXPECT_EQ(serve.wait_for_lines(60), 60u) << serve.log();
  ASSERT_EQ(serve.stop(), 0) << serve.log();

  const auto lines = serve.lines();
  EXPECT_EQ(lines.size(), 60u);
  std::set<std::string> names;
  for (const auto& line : lines) {
    names.insert(line.value("name", ""));
    EXPECT_TRUE(line.contains("top")) << line.dump();
  }
  EXPECT_EQ(names.size(), 30u);
  for (const auto& name : names) EXPECT_LT(name, "00100.png") << "a stranger's frame got a line: " << name;
  EXPECT_NE(serve.log().find("TLS handshake refused"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(TlsEndToEnd, SighupServesTheNewCertificateAndKeepsTheOpenConnection) {
  SLUICE_REQUIRE_SETUP(fashion_bundle(), fashion_images(), kOpenssl);
  const auto dir = make_temp_dir("tls-reload");
  const Pki pki(dir);
  const auto images = dir + "/images";
  std::filesystem::create_directories(images);
  write_fashion_pngs(images, 0, 80);

  ServeProcess serve({.tag = "tls-reload", .args = pki.serve_flags()});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const std::string client_flags =
      fmt::format("-CAfile {} -cert {} -key {}", pki.ca.cert, pki.producer.cert, pki.producer.key);
  EXPECT_NE(s_client(serve.port(), client_flags).find("CN = server-one"), std::string::npos);

  // A producer streams at 10 frames/s (8 s) across the reload.
  auto streaming =
      spawn_sender(dir, "streaming", serve.port(), with(pki.producer_flags(), {"--rate", "10", images}));
  ASSERT_GE(serve.wait_for_lines(5), 5u) << serve.log();

  const auto next = make_leaf(dir, "server-next", "server-two", pki.ca);
  std::filesystem::rename(next.cert, pki.server.cert);
  std::filesystem::rename(next.key, pki.server.key);
  serve.signal(SIGHUP);
  ASSERT_TRUE(serve.wait_for_log("(SIGHUP)")) << serve.log();

  const auto seen = s_client(serve.port(), client_flags);
  EXPECT_NE(seen.find("CN = server-two"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("CN = server-one"), std::string::npos) << seen;

  // The connection open during the reload delivered everything; a new producer is served.
  ASSERT_EQ(streaming.wait(120s), 0) << read_file(dir + "/streaming.err");
  auto after =
      spawn_sender(dir, "after", serve.port(), with(pki.producer_flags(), {"--limit", "10", images}));
  ASSERT_EQ(after.wait(120s), 0) << read_file(dir + "/after.err");
  EXPECT_EQ(serve.wait_for_lines(90), 90u) << serve.log();
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  EXPECT_EQ(serve.lines().size(), 90u);
  std::filesystem::remove_all(dir);
}

// A client certificate names its producer's identity as a token does (`subject` in --tokens): a
// seed producer behind TLS needs no hello. A certificate from the same CA whose subject no identity
// has gets nothing, and a certified producer is held to its identity's frame names.
TEST(TlsEndToEnd, AClientCertificateSubjectIsAProducerIdentity) {
  SLUICE_REQUIRE_SETUP(fashion_bundle(), fashion_images(), kOpenssl);
  const auto dir = make_temp_dir("tls-subject");
  const Pki pki(dir);
  const auto unknown = make_leaf(dir, "unknown", "producer-2", pki.ca);
  const auto good = dir + "/good", bad = dir + "/bad";
  std::filesystem::create_directories(good);
  std::filesystem::create_directories(bad);
  write_fashion_pngs(good, 0, 20);
  write_fashion_pngs(bad, 100, 5);
  const auto tokens = dir + "/tokens.yaml";
  std::ofstream(tokens)
      << "identities:\n  camera:\n    subject: CN=producer-1\n    streams: [4294967296-4294967999]\n"
         "    names: [\"000\"]\n";
  ServeProcess serve({.dir = dir, .args = with(pki.serve_flags(), {"--tokens", tokens}), .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();

  auto certified = spawn_sender(dir, "certified", serve.port(), with(pki.producer_flags(), {good}));
  ASSERT_EQ(certified.wait(120s), 0) << read_file(dir + "/certified.err");
  auto stranger =
      spawn_sender(dir, "stranger", serve.port(),
                   {"--tls-ca", pki.ca.cert, "--tls-cert", unknown.cert, "--tls-key", unknown.key, bad});
  EXPECT_TRUE(stranger.wait(60s).has_value());
  auto wrong_names = spawn_sender(dir, "wrong-names", serve.port(), with(pki.producer_flags(), {bad}));
  EXPECT_TRUE(wrong_names.wait(60s).has_value());

  const auto m = serve.wait_for_metrics([](const MetricSamples& s) {
    return refused(s, "no_credential") >= 1 && refused(s, "name_prefix") >= 1;
  });
  EXPECT_GE(refused(m, "no_credential"), 1) << serve.log();  // a certificate no identity has
  EXPECT_GE(refused(m, "name_prefix"), 1) << serve.log();    // the certified producer, other names
  EXPECT_EQ(serve.wait_for_lines(20), 20u) << serve.log();
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  const auto lines = serve.lines();
  EXPECT_EQ(lines.size(), 20u);
  for (const auto& line : lines) EXPECT_LT(line.value("name", ""), "00100.png") << line.dump();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice::test
