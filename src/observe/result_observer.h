// ResultObserver: a Sink decorator that watches every result line on its way out: frame latency,
// error lines by reason, and the top-1 labels of the last minute. Then it forwards the lines.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "observe/histogram.h"
#include "observe/label_window.h"
#include "sink/sink.h"

namespace sluice::observe {

class ResultObserver final : public sink::Sink {
 public:
  /// `next` receives every record unchanged; it must outlive the observer.
  explicit ResultObserver(sink::Sink& next) : next_(next) {}

  Status write(std::span<const sink::ResultRecord> records) override;
  Status flush() override { return next_.flush(); }

  /// Receipt to result, in seconds, one observation per frame.
  const Histogram& latency() const { return latency_; }
  /// Error lines written, by reason (the Code name that starts the error text: "decode", ...).
  std::map<std::string, std::uint64_t> failures() const;
  /// The `n` most frequent top-1 labels of the last minute.
  std::vector<LabelCount> top_labels(std::size_t n) const { return labels_.top(n, Clock::now()); }

 private:
  sink::Sink& next_;
  Histogram latency_;
  LabelWindow labels_;
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> failures_;
};

}  // namespace sluice::observe
