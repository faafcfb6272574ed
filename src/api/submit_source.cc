#include "api/submit_source.h"

namespace sluice::api {

Status SubmitSource::start(source::FrameSink& sink) {
  auto stream = sink.open_stream("submit()");
  if (!stream) return stream.status();
  MutexLock lock(mu_);
  sink_ = &sink;
  stream_ = *stream;
  return Status::ok();
}

void SubmitSource::stop() {
  stopped_ = true;
  MutexLock lock(mu_);
  if (sink_ != nullptr) sink_->close_stream(stream_, Status::ok());
  sink_ = nullptr;
}

Status SubmitSource::submit(Frame frame) {
  if (stopped_) return Status(Code::kClosed, "the pipeline is stopped");
  MutexLock lock(mu_);
  if (sink_ == nullptr) return Status(Code::kClosed, "the pipeline is not running (call start() first)");
  frame.stream = stream_;
  frame.seq = next_seq_;
  frame.arrival = Clock::now();
  auto st = sink_->store(std::move(frame));
  if (st) ++next_seq_;
  return st;
}

}  // namespace sluice::api
