#include "redis/redis_ingest_sink.h"

#include <spdlog/spdlog.h>

namespace sluice::redis {

Status RedisIngestSink::store(Frame frame) {
  std::vector<Frame> one;
  one.push_back(std::move(frame));
  return store_many(one);
}

Status RedisIngestSink::store_many(std::vector<Frame>& frames) {
  if (frames.empty()) return Status::ok();
  if (!monitor_.wait_for_room()) return Status(Code::kClosed, "ingest is stopping");
  std::size_t bytes = 0;
  for (const auto& f : frames) bytes += f.payload.size();
  if (auto st = writer_.write(frames); !st) {
    if (st.code() != Code::kClosed) {
      ++stats_.errors;
      stats_.set_last_error(st.to_string());
    }
    return st;
  }
  stats_.frames.fetch_add(frames.size(), std::memory_order_relaxed);
  stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
  frames.clear();
  return Status::ok();
}

std::uint64_t RedisIngestSink::open_stream(std::string_view peer) {
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
