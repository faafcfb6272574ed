// StreamLedger: a stream is finished (its sink records may go) only once it is closed and none of
// its frames is in flight, in whichever order those happen; protocol-v2 streams never are.
#include <gtest/gtest.h>

#include <vector>

#include "engine/stream_ledger.h"
#include "wire/protocol_v2.h"

namespace sluice::engine {
namespace {

std::vector<Frame> frames_of(std::uint64_t stream, int n) {
  std::vector<Frame> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)].stream = stream;
    out[static_cast<std::size_t>(i)].seq = static_cast<std::uint64_t>(i);
  }
  return out;
}

TEST(StreamLedger, AStreamClosedWithFramesInFlightFinishesWithItsLastLine) {
  StreamLedger ledger;
  const auto frames = frames_of(7, 3);
  ledger.entered(frames);
  ledger.closed(7);
  EXPECT_TRUE(ledger.take_finished().empty()) << "three frames still have no line";
  ledger.done(std::span(frames).first(2));
  EXPECT_TRUE(ledger.take_finished().empty());
  ledger.done(std::span(frames).subspan(2));
  EXPECT_EQ(ledger.take_finished(), std::vector<std::uint64_t>{7});
  EXPECT_TRUE(ledger.take_finished().empty()) << "reported once";
  EXPECT_EQ(ledger.tracked(), 0u);
}

TEST(StreamLedger, AStreamClosedAfterItsLastLineFinishesAtOnce) {
  StreamLedger ledger;
  const auto frames = frames_of(8, 2);
  ledger.entered(frames);
  ledger.done(frames);
  EXPECT_TRUE(ledger.take_finished().empty()) << "still open";
  EXPECT_EQ(ledger.tracked(), 0u) << "an idle open stream costs nothing";
  ledger.closed(8);
  EXPECT_EQ(ledger.take_finished(), std::vector<std::uint64_t>{8});
}

TEST(StreamLedger, OtherStreamsDoNotHoldItUpAndProducerStreamsAreNeverFinished) {
  StreamLedger ledger;
  const auto a = frames_of(1, 1), b = frames_of(2, 1);
  const auto v2 = frames_of(wire::kMinProducerStreamId + 5, 2);
  ledger.entered(a);
  ledger.entered(b);
  ledger.entered(v2);
  ledger.closed(1);
  ledger.closed(wire::kMinProducerStreamId + 5);
  ledger.done(a);
  ledger.done(v2);
  EXPECT_EQ(ledger.take_finished(), std::vector<std::uint64_t>{1}) << "a v2 stream may reconnect and re-send";
  EXPECT_EQ(ledger.tracked(), 1u) << "stream 2 has a frame in flight";
}

}  // namespace
}  // namespace sluice::engine
