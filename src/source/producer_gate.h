// ProducerGate: what a byte-stream reader asks before it lets a producer go on.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "observe/source_stats.h"
#include "wire/protocol_v2.h"

namespace sluice::source {

/// Why a producer was refused, for the metric and the log line (which names the rule).
struct Refusal {
  observe::RefuseReason reason;
  std::string message;
};

/// Called by FrameStreamReader on the connection owner's thread, before the record concerned
/// (and anything after it) reaches the sink. nullopt lets it through.
class ProducerGate {
 public:
  virtual ~ProducerGate() = default;
  /// The first record is a hello.
  virtual std::optional<Refusal> on_hello(const wire::Hello& hello) = 0;
  /// The first record is a frame: a plain producer, without a hello.
  virtual std::optional<Refusal> on_plain() = 0;
  /// A frame with this name is about to be admitted.
  virtual std::optional<Refusal> on_frame(std::string_view name) = 0;
};

}  // namespace sluice::source
