// CallbackSink: results go to a function instead of a file (the embedding API without an output).
#pragma once

#include <functional>
#include <vector>

#include "sink/sink.h"

namespace sluice::sink {

/// commit() calls the function once per record written since the last commit, in order: a
/// frame is done once the call has returned. Exceptions from the function are a failed commit.
class CallbackSink final : public Sink {
 public:
  explicit CallbackSink(std::function<void(const ResultRecord&)> on_result)
      : on_result_(std::move(on_result)) {}

  Status write(std::span<ResultRecord> records) override {
    for (auto& r : records) {
      r.duplicate = false;
      pending_.push_back(&r);
    }
    return Status::ok();
  }
  Status commit(Durability) override;

 private:
  std::function<void(const ResultRecord&)> on_result_;
  std::vector<const ResultRecord*> pending_;  // valid until commit returns (the committer keeps them)
};

}  // namespace sluice::sink
