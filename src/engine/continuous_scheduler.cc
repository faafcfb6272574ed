#include "engine/continuous_scheduler.h"

namespace sluice::engine {

ContinuousScheduler::ContinuousScheduler(ContinuousOptions options, std::vector<BlockGenerator*> generators,
                                         BlockStore& store, SubmitBatch submit,
                                         std::function<bool()> executors_busy)
    : options_(options),
      generators_(std::move(generators)),
      store_(store),
      submit_(std::move(submit)),
      executors_busy_(std::move(executors_busy)) {}

ContinuousScheduler::~ContinuousScheduler() {
  stop();
}

void ContinuousScheduler::start() {
  thread_ = std::thread([this] { run(); });
}

void ContinuousScheduler::stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  cut(Clock::now());
}

void ContinuousScheduler::frames_arrived() {
  {
    MutexLock lock(mu_);
    if (arrived_) return;  // already signalled; nothing to add
    arrived_ = true;
  }
  wake_.notify_one();
}

void ContinuousScheduler::cut(Clock::time_point now) {
  for (auto* generator : generators_) {
    if (auto block = generator->seal(next_block_id_, now)) {
      ++next_block_id_;
      store_.put(std::move(*block));
    }
  }
  auto blocks = store_.take_all();
  if (!blocks.empty()) submit_(std::move(blocks), now);
}

void ContinuousScheduler::run() {
  mu_.lock();
  while (!stopping_) {
    mu_.unlock();
    const auto now = Clock::now();
    std::size_t pending = 0;
    std::optional<Clock::time_point> oldest;
    for (auto* generator : generators_) {
      pending += generator->pending();
      if (auto t = generator->oldest_arrival(); t && (!oldest || *t < *oldest)) oldest = t;
    }
    const bool full = pending >= options_.max_batch;
    const bool waited = oldest && now - *oldest >= options_.max_delay;
    if (full || (waited && !executors_busy_())) {
      cut(now);
      mu_.lock();
      continue;
    }
    // Sleep until a frame arrives, the oldest frame's delay runs out, or (with the executors
    // busy) a little while, to look again.
    auto until = now + std::chrono::milliseconds(50);
    if (oldest)
      until = std::max(now + std::chrono::microseconds(200), std::min(until, *oldest + options_.max_delay));
    mu_.lock();
    wake_.wait_until(mu_, until, [&]() REQUIRES(mu_) { return stopping_ || arrived_; });
    arrived_ = false;
  }
  mu_.unlock();
}

}  // namespace sluice::engine
