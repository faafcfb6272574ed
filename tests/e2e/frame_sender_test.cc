// The producer's lanes: with --repeat, frames are dealt over the connections as one long
// sequence, so each connection carries the same number of frames (within one) even when the
// set's size is not a multiple of the connection count. Before, a 5-image set over 4 connections
// gave one connection twice the frames of the others, and a rate-limited send ran at 5/8 of the
// rate asked for.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <string>

#include "producer/frame_sender.h"
#include "source/tcp_listen_source.h"
#include "support/fake_frame_sink.h"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

producer::FrameSet five_frames() {
  producer::FrameSet set;
  for (int i = 0; i < 5; ++i)
    set.frames.push_back({fmt::format("f{}", i), std::vector<std::uint8_t>(100, 1)});
  return set;
}

TEST(FrameSender, RepeatedSetsAreDealtEvenlyOverTheConnections) {
  source::TcpListenSource listen(source::TcpListenOptions{{"127.0.0.1", 0}});
  FakeFrameSink sink;
  ASSERT_TRUE(listen.start(sink));
  producer::SendProgress progress;
  const auto set = five_frames();
  auto sent =
      producer::send_frames(set, listen.bound(), {.rate = 2000, .connections = 4, .repeat = 4}, progress);
  ASSERT_TRUE(sent) << sent.status().to_string();
  EXPECT_EQ(sent->frames, 20u);
  ASSERT_TRUE(sink.wait_for_frames(20, 10s));
  listen.stop();
  std::map<std::uint64_t, int> per_stream;
  std::map<std::string, int> per_name;
  for (const auto& f : sink.frames()) {
    ++per_stream[f.stream];
    ++per_name[f.name];
  }
  ASSERT_EQ(per_stream.size(), 4u);
  for (const auto& [stream, n] : per_stream) EXPECT_EQ(n, 5) << "stream " << stream;
  ASSERT_EQ(per_name.size(), 5u);
  for (const auto& [name, n] : per_name) EXPECT_EQ(n, 4) << name << " must be sent once per repeat";
}

}  // namespace
}  // namespace sluice::test
