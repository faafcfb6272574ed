// ResultRecord: the outcome for one accepted frame, a prediction or the reason it has none.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::sink {

struct LabeledPrediction {
  int index = 0;
  std::string_view label;  // owned by the model bundle, which outlives the pipeline
  float score = 0.0f;
};

struct ResultRecord {
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
  std::string name;
  std::uint64_t batch = 0;
  double latency_ms = 0.0;  // receipt to result
  std::vector<LabeledPrediction> top;
  std::string error;  // non-empty: no prediction, and this says why
  /// Video frames only (Frame::pts_ms, Frame::origin): written as "pts_ms" and "url".
  std::optional<std::int64_t> pts_ms;
  std::shared_ptr<const std::string> url;
  /// The frame's Frame::token (source-defined), for sinks that acknowledge upstream themselves.
  std::uint64_t token = 0;

  bool ok() const { return error.empty(); }
};

}  // namespace sluice::sink
