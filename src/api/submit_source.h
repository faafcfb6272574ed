// SubmitSource: the source behind Pipeline::submit: frames an application hands in directly.
#pragma once

#include <atomic>

#include "source/source.h"
#include "util/mutex.h"

namespace sluice::api {

/// One stream; its frames are numbered in the order their submit() calls took place.
class SubmitSource final : public source::Source {
 public:
  std::string name() const override { return "submit"; }
  Status start(source::FrameSink& sink) override;
  void stop() override;
  /// Blocks while the pipeline is full; kClosed once stopped.
  Status submit(Frame frame);

 private:
  Mutex mu_;  // numbers and stores frames one at a time, so seq order is store order
  source::FrameSink* sink_ GUARDED_BY(mu_) = nullptr;
  std::uint64_t stream_ GUARDED_BY(mu_) = 0;
  std::uint64_t next_seq_ GUARDED_BY(mu_) = 0;
  std::atomic<bool> stopped_{false};
};

}  // namespace sluice::api
