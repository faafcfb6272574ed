#include "source/supervised_source.h"

#include <spdlog/spdlog.h>

namespace sluice::source {

// The FrameSink the inner source sees: everything goes to the engine's sink, except restart
// requests, which come to the supervisor.
class SupervisedSource::Proxy final : public FrameSink {
 public:
  Proxy(SupervisedSource& owner, FrameSink& sink) : owner_(owner), sink_(sink) {}
  Status store(Frame frame) override { return sink_.store(std::move(frame)); }
  Status store_many(std::vector<Frame>& frames) override { return sink_.store_many(frames); }
  Reservation try_reserve(std::size_t bytes, std::size_t frames) override {
    return sink_.try_reserve(bytes, frames);
  }
  void unreserve(std::size_t bytes) override { sink_.unreserve(bytes); }
  void admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) override {
    sink_.admit(std::move(frames), std::move(admitted));
  }
  void set_wake(std::function<void()> wake) override { sink_.set_wake(std::move(wake)); }
  Result<std::uint64_t> open_stream(std::string_view peer) override { return sink_.open_stream(peer); }
  void close_stream(std::uint64_t stream, const Status& why) override { sink_.close_stream(stream, why); }
  void report_error(const Status& error) override { sink_.report_error(error); }
  observe::SourceStats& stats() override { return sink_.stats(); }
  void request_restart(const Status& why) override { owner_.on_restart_request(why); }

 private:
  SupervisedSource& owner_;
  FrameSink& sink_;
};

SupervisedSource::SupervisedSource(std::unique_ptr<Source> inner, RestartPolicy policy)
    : inner_(std::move(inner)), policy_(policy) {
  if (policy_.healthy_after.count() <= 0) policy_.healthy_after = policy_.max_backoff;
}

SupervisedSource::~SupervisedSource() {
  stop();
}

Status SupervisedSource::start(FrameSink& sink) {
  if (thread_.joinable()) return Status(Code::kInternal, "already started");
  sink_ = &sink;
  proxy_ = std::make_unique<Proxy>(*this, sink);
  if (auto st = inner_->start(*proxy_); !st) return st;
  inner_running_ = true;
  started_at_ = Clock::now();
  sink.stats().set_state(observe::SourceState::kRunning);
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void SupervisedSource::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (inner_running_) {
    inner_->stop();
    inner_running_ = false;
  }
}

void SupervisedSource::on_restart_request(const Status& why) {
  auto& stats = sink_->stats();
  ++stats.errors;
  stats.set_last_error(why.to_string());
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    if (pending_) return;  // merged into the restart already asked for
    pending_ = why;
  }
  cv_.notify_all();
}

bool SupervisedSource::sleep_unless_stopped(std::chrono::milliseconds delay) {
  MutexLock lock(mu_);
  return !cv_.wait_for(mu_, delay, [&]() REQUIRES(mu_) { return stopping_; });
}

void SupervisedSource::run() {
  Backoff backoff(policy_.initial_backoff, policy_.max_backoff);
  auto& stats = sink_->stats();
  while (true) {
    Status why;
    {
      MutexLock lock(mu_);
      cv_.wait(mu_, [&]() REQUIRES(mu_) { return stopping_ || pending_.has_value(); });
      if (stopping_) return;
      why = *pending_;
    }
    stats.set_state(observe::SourceState::kBackoff);
    inner_->stop();
    inner_running_ = false;
    {
      MutexLock lock(mu_);
      pending_.reset();  // requests made while the source stopped belong to this restart
    }
    if (Clock::now() - started_at_ >= policy_.healthy_after) backoff.reset();
    bool first_attempt = true;
    while (true) {
      if (policy_.max_restarts != 0 && stats.restarts.load() >= policy_.max_restarts) {
        stats.set_state(observe::SourceState::kFailed);
        spdlog::error("{}: gave up after {} restarts (max_restarts); last error: {}", name(),
                      stats.restarts.load(), why.to_string());
        return;
      }
      const auto delay = backoff.next();
      const auto attempt = stats.restarts.load() + 1;
      if (first_attempt) {
        spdlog::warn("{}: {}; restarting in {} ms (restart {})", name(), why.to_string(), delay.count(),
                     attempt);
      } else {
        spdlog::warn("{}: restart {} failed: {}; retrying in {} ms (restart {})", name(), attempt - 1,
                     why.message(), delay.count(), attempt);
      }
      first_attempt = false;
      if (!sleep_unless_stopped(delay)) return;
      ++stats.restarts;
      if (auto st = inner_->start(*proxy_); st) {
        inner_running_ = true;
        started_at_ = Clock::now();
        stats.set_state(observe::SourceState::kRunning);
        spdlog::info("{}: running again after restart {}", name(), attempt);
        break;
      } else {
        ++stats.errors;
        stats.set_last_error(st.to_string());
        why = st;
      }
    }
  }
}

}  // namespace sluice::source
