// ResultObserver: watches every frame that is done: its latency, and the top-1 labels of the
// last minute (error lines by reason are counted by the engine's PipelineMetrics).
#pragma once

#include <vector>

#include "engine/result_listener.h"
#include "observe/histogram.h"
#include "observe/label_window.h"

namespace sluice::monitor {

class ResultObserver final : public engine::ResultListener {
 public:
  void on_results(std::span<const sink::ResultRecord> results) override;

  /// Receipt to durable line, in seconds, one observation per frame.
  const observe::Histogram& latency() const { return latency_; }
  /// The `n` most frequent top-1 labels of the last minute.
  std::vector<observe::LabelCount> top_labels(std::size_t n) const { return labels_.top(n, Clock::now()); }

 private:
  observe::Histogram latency_;
  observe::LabelWindow labels_;
};

}  // namespace sluice::monitor
