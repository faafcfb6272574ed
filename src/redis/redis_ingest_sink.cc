#include "redis/redis_ingest_sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::redis {
namespace {
// While the backlog is over its bound, an event loop asks again this often.
constexpr std::chrono::milliseconds kBacklogRetry{20};

std::size_t payload_bytes(const std::vector<Frame>& frames) {
  std::size_t bytes = 0;
  for (const auto& f : frames) bytes += f.payload.size();
  return bytes;
}
}  // namespace

RedisIngestSink::RedisIngestSink(std::string source_name, FrameWriter& writer, BacklogMonitor& monitor,
                                 engine::MemoryBudget& budget)
    : writer_(writer), monitor_(monitor), budget_(budget), stats_(std::move(source_name)) {
  thread_ = std::thread([this] { run(); });
}

RedisIngestSink::~RedisIngestSink() {
  stop();
}

void RedisIngestSink::stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status RedisIngestSink::write(std::vector<Frame>& frames) {
  const std::size_t bytes = payload_bytes(frames);
  Status st = writer_.write(frames);
  if (st) {
    stats_.frames.fetch_add(frames.size(), std::memory_order_relaxed);
    stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
    if (source_ != nullptr) source_->on_frames_done(frames);
  } else if (st.code() != Code::kClosed) {
    ++stats_.errors;
    stats_.set_last_error(st.to_string());
  }
  budget_.release(bytes);
  return st;
}

Status RedisIngestSink::store_many(std::vector<Frame>& frames) {
  if (frames.empty()) return Status::ok();
  const std::size_t bytes = payload_bytes(frames);
  if (!budget_.fits(bytes)) {
    return Status(Code::kLimit, fmt::format("{} bytes of frames can never fit the memory budget of {} bytes "
                                            "(rule: --memory-budget)",
                                            bytes, budget_.limit()));
  }
  if (!monitor_.wait_for_room() || !budget_.acquire(bytes))
    return Status(Code::kClosed, "ingest is stopping");
  auto st = write(frames);
  if (st) frames.clear();
  return st;
}

source::Reservation RedisIngestSink::try_reserve(std::size_t bytes, std::size_t frames) {
  using Kind = source::Reservation::Kind;
  if (!budget_.fits(bytes)) {
    return {Kind::kNever,
            {},
            Status(Code::kLimit,
                   fmt::format("a frame of {} bytes can never fit the memory budget of {} bytes (rule: "
                               "--memory-budget)",
                               bytes, budget_.limit()))};
  }
  if (frames > 0 && !monitor_.has_room()) return {Kind::kWait, kBacklogRetry, {}};
  if (!budget_.try_acquire(bytes)) return {Kind::kWait, {}, {}};
  return {};
}

void RedisIngestSink::admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) {
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(frames));
  }
  cv_.notify_one();
  admitted(Status::ok());
}

void RedisIngestSink::run() {
  while (true) {
    std::vector<Frame> frames;
    {
      MutexLock lock(mu_);
      cv_.wait(mu_, [&]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      frames = std::move(queue_.front());
      queue_.pop_front();
    }
    if (auto st = write(frames); !st && st.code() != Code::kClosed) {
      spdlog::error("{}: {} frame(s) could not be written to Redis: {}", stats_.name(), frames.size(),
                    st.to_string());
    }
  }
}

Result<std::uint64_t> RedisIngestSink::open_stream(std::string_view peer) {
  ++stats_.streams_open;
  const std::uint64_t id = writer_.next_stream_id();
  spdlog::debug("{}: stream {} from {}", stats_.name(), id, peer);
  return id;
}

void RedisIngestSink::close_stream(std::uint64_t, const Status& why) {
  --stats_.streams_open;
  if (why.is_ok() || why.code() == Code::kClosed) return;
  ++stats_.errors;
  stats_.set_last_error(why.to_string());
}

void RedisIngestSink::report_error(const Status& error) {
  ++stats_.errors;
  stats_.set_last_error(error.to_string());
  spdlog::warn("{}: {}", stats_.name(), error.to_string());
}

}  // namespace sluice::redis
