#include "sink/callback_sink.h"

#include <exception>

#include <fmt/format.h>

namespace sluice::sink {

Status CallbackSink::commit(Durability) {
  std::vector<const ResultRecord*> records;
  records.swap(pending_);
  if (!on_result_) return Status::ok();
  try {
    for (const auto* r : records) on_result_(*r);
  } catch (const std::exception& e) {
    return Status(Code::kInternal, fmt::format("the result callback threw: {}", e.what()));
  }
  return Status::ok();
}

}  // namespace sluice::sink
