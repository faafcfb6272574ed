#include "engine/interval_scheduler.h"

namespace sluice::engine {

IntervalScheduler::IntervalScheduler(IntervalOptions options, std::vector<BlockGenerator*> generators,
                                     BlockStore& store, SubmitBatch submit)
    : options_(options), generators_(std::move(generators)), store_(store), submit_(std::move(submit)) {}

IntervalScheduler::~IntervalScheduler() {
  stop();
}

void IntervalScheduler::start() {
  thread_ = std::thread([this] { run(); });
}

void IntervalScheduler::stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  const auto now = Clock::now();
  seal_blocks(now);
  cut_batch(now);
}

void IntervalScheduler::seal_blocks(Clock::time_point now) {
  for (auto* generator : generators_) {
    if (auto block = generator->seal(next_block_id_, now)) {
      ++next_block_id_;
      store_.put(std::move(*block));
    }
  }
}

void IntervalScheduler::cut_batch(Clock::time_point batch_time) {
  auto blocks = store_.take_all();
  if (!blocks.empty()) submit_(std::move(blocks), batch_time);
}

void IntervalScheduler::run() {
  const auto start = Clock::now();
  auto next_block = start + options_.block_interval;
  auto next_batch = start + options_.batch_interval;
  mu_.lock();
  while (!stopping_) {
    const auto due = std::min(next_block, next_batch);
    if (wake_.wait_until(mu_, due, [&]() REQUIRES(mu_) { return stopping_; })) break;
    mu_.unlock();
    const auto now = Clock::now();
    if (now >= next_block) {
      seal_blocks(now);
      while (next_block <= now) next_block += options_.block_interval;
    }
    if (now >= next_batch) {
      // Frames of the block that is still open join this batch: a batch holds every frame
      // received before its batch time.
      seal_blocks(now);
      cut_batch(next_batch);
      while (next_batch <= now) next_batch += options_.batch_interval;
    }
    mu_.lock();
  }
  mu_.unlock();
}

}  // namespace sluice::engine
