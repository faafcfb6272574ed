// WalRecoverySource: replays the frames a write-ahead log holds without a result. The context
// starts it before every other source, and its start() returns only once all are stored, so
// they are processed first.
#pragma once

#include "source/source.h"
#include "store/write_ahead_log.h"

namespace sluice::source {

class WalRecoverySource final : public Source {
 public:
  explicit WalRecoverySource(store::WriteAheadLog& wal) : wal_(wal) {}
  std::string name() const override { return "wal-recovery"; }
  Status start(FrameSink& sink) override {
    return wal_.replay([&](Frame frame) { return sink.store(std::move(frame)); });
  }
  void stop() override {}

 private:
  store::WriteAheadLog& wal_;
};

}  // namespace sluice::source
