// ResultListener: told about every frame that is done, at the moment its line is durable.
#pragma once

#include <span>

#include "sink/result_record.h"

namespace sluice::engine {

class ResultListener {
 public:
  virtual ~ResultListener() = default;
  /// Results whose lines are durable, in commit order (each stream's in seq order). A record
  /// with `duplicate` set had its line already: none was written for it. Called on the commit
  /// thread; must be quick.
  virtual void on_results(std::span<const sink::ResultRecord> results) = 0;
};

}  // namespace sluice::engine
