// NullSink: results are counted by listeners and written nowhere (benchmarks, tests).
#pragma once

#include "sink/sink.h"

namespace sluice::sink {

class NullSink final : public Sink {
 public:
  Status write(std::span<ResultRecord>) override { return Status::ok(); }
  Status commit(Durability) override { return Status::ok(); }
};

}  // namespace sluice::sink
