// The udp example plugin in process: one frame per well-formed datagram; every malformed,
// truncated or oversize datagram is dropped and counted as an error of the source.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "net/socket.h"
#include "source/plugin_library.h"
#include "source/plugin_source.h"
#include "support/fake_frame_sink.h"
#include "wire/frame_codec.h"

namespace sluice::source {
namespace {
using namespace std::chrono_literals;
constexpr auto kGenerous = 20s;

// A UDP port that was free a moment ago.
std::uint16_t free_udp_port() {
  net::Fd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

void send_datagram(std::uint16_t port, const std::vector<std::uint8_t>& bytes) {
  net::Fd fd(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      ::sendto(fd.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
      static_cast<ssize_t>(bytes.size()));
}

std::vector<std::uint8_t> record(const std::string& name, std::size_t payload_bytes) {
  std::vector<std::uint8_t> out;
  EXPECT_TRUE(wire::append_record(name, std::vector<std::uint8_t>(payload_bytes, 7), out));
  return out;
}

TEST(UdpPluginTest, StoresGoodDatagramsAndCountsEveryDrop) {
  const auto port = free_udp_port();
  auto library = PluginLibrary::load(SLUICE_UDP_PLUGIN);
  ASSERT_TRUE(library) << library.status().to_string();
  auto plugin = PluginSource::create(
      *library, {{"bind", "127.0.0.1:" + std::to_string(port)}, {"max_frame_bytes", "1000"}}, "plugin udp");
  ASSERT_TRUE(plugin) << plugin.status().to_string();
  test::FakeFrameSink sink;
  ASSERT_TRUE((*plugin)->start(sink));

  for (int i = 0; i < 5; ++i) send_datagram(port, record("good-" + std::to_string(i), 100 + i));
  send_datagram(port, std::vector<std::uint8_t>(10, 1));  // shorter than the header: malformed
  auto truncated = record("truncated", 100);
  truncated.erase(truncated.end() - 50, truncated.end());
  send_datagram(port, truncated);
  auto trailing = record("trailing", 10);
  trailing.push_back(0);
  send_datagram(port, trailing);                  // malformed: a byte after the payload
  send_datagram(port, record("oversize", 1001));  // over max_frame_bytes
  auto negative = record("negative", 4);
  negative[28] = 0xff;  // length -N
  send_datagram(port, negative);
  send_datagram(port, record("last-good", 1));

  ASSERT_TRUE(sink.wait_for_frames(6, kGenerous));
  ASSERT_TRUE(test::eventually([&] { return sink.stats().errors.load() >= 5; }, kGenerous));
  (*plugin)->stop();
  std::set<std::string> names;
  for (const auto& f : sink.frames()) names.insert(f.name);
  EXPECT_EQ(names, (std::set<std::string>{"good-0", "good-1", "good-2", "good-3", "good-4", "last-good"}));
  EXPECT_EQ(sink.frames()[2].payload.size(), 102u);
  EXPECT_EQ(sink.stats().errors.load(), 5u) << "one error per dropped datagram";
  // The first drop is logged through report_error; the rest within a second only counted.
  ASSERT_GE(sink.reported().size(), 1u);
  EXPECT_NE(sink.reported()[0].find("udp: dropped a datagram: malformed: 10 bytes"), std::string::npos)
      << sink.reported()[0];
  EXPECT_NE(sink.stats().last_error().find("dropped a datagram"), std::string::npos);
}

TEST(UdpPluginTest, RefusesBadConfiguration) {
  auto library = PluginLibrary::load(SLUICE_UDP_PLUGIN);
  ASSERT_TRUE(library);
  for (const auto& [config, expect] : std::vector<std::pair<PluginConfig, std::string>>{
           {{}, "bind=HOST:PORT is required"},
           {{{"bind", "nowhere"}}, "is not HOST:PORT"},
           {{{"bind", "127.0.0.1:1"}, {"max_frame_bytes", "0"}}, "max_frame_bytes=0"},
           {{{"bind", "127.0.0.1:1"}, {"ttl", "3"}}, "unknown key 'ttl'"}}) {
    auto plugin = PluginSource::create(*library, config, "plugin udp");
    ASSERT_FALSE(plugin) << expect;
    EXPECT_NE(plugin.status().message().find(expect), std::string::npos) << plugin.status().message();
  }
}

TEST(UdpPluginTest, StartFailureIsReported) {
  auto library = PluginLibrary::load(SLUICE_UDP_PLUGIN);
  ASSERT_TRUE(library);
  auto plugin = PluginSource::create(*library, {{"bind", "203.0.113.1:9"}}, "plugin udp");  // not ours
  ASSERT_TRUE(plugin);
  test::FakeFrameSink sink;
  const Status st = (*plugin)->start(sink);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("start failed: bind 203.0.113.1:9"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace sluice::source
