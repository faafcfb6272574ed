// FrameResult: the outcome for one accepted frame, a prediction or the reason it has none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/status.h"

namespace sluice {

struct Prediction {
  int index = 0;
  std::string_view label;  // owned by the pipeline's model bundle: valid while the pipeline lives
  float score = 0.0f;
};

struct FrameResult {
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
  std::string name;
  std::uint64_t batch = 0;  // the micro-batch that processed the frame
  double latency_ms = 0.0;  // receipt to result
  std::vector<Prediction> top;
  /// kOk with a prediction; otherwise the rule the frame broke, and `error` says how
  /// ("decode: payload of 12 bytes is neither JPEG nor PNG ...").
  Code error_code = Code::kOk;
  std::string error;
  /// Video frames only (Frame::pts_ms, Frame::origin): written as "pts_ms" and "url".
  std::optional<std::int64_t> pts_ms;
  std::shared_ptr<const std::string> url;
  /// The frame's Frame::token (source-defined), for sinks that acknowledge upstream themselves.
  std::uint64_t token = 0;
  /// Set by a deduplicating sink when this (stream, seq) already had a line: none was written.
  bool duplicate = false;

  bool ok() const { return error_code == Code::kOk; }
};

}  // namespace sluice
