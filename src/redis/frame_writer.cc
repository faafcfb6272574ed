#include "redis/frame_writer.h"

#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "redis/frame_entry.h"
#include "source/backoff.h"

namespace sluice::redis {

FrameWriter::FrameWriter(const RedisUrl& url, StreamLayout layout, FrameWriterOptions options)
    : layout_(std::move(layout)), options_(options), ids_(url, options.connection) {
  for (int p = 0; p < layout_.partitions; ++p) {
    partitions_.push_back(std::make_unique<Partition>(url, options_.connection));
  }
}

std::uint64_t FrameWriter::next_stream_id() {
  {
    MutexLock lock(ids_.mu);
    RedisCommand incr("INCR");
    incr.add(layout_.stream_ids_key());
    auto reply = ids_.conn.run(incr);
    if (reply && (*reply)->type == REDIS_REPLY_INTEGER && (*reply)->integer > 0) {
      return static_cast<std::uint64_t>((*reply)->integer);
    }
    spdlog::warn("ingest: cannot number a new stream with INCR {} ({}); using a random id",
                 layout_.stream_ids_key(), reply ? reply_str(**reply) : reply.status().to_string());
  }
  // Below 2^32, where protocol-v2 producer ids never are; above the counter's likely range.
  thread_local std::mt19937_64 rng(std::random_device{}());
  return (1ull << 31) + rng() % (1ull << 31);
}

Status FrameWriter::write(std::span<const Frame> frames) {
  if (frames.empty()) return Status::ok();
  std::vector<std::vector<const Frame*>> by_partition(partitions_.size());
  for (const auto& f : frames)
    by_partition[static_cast<std::size_t>(layout_.partition_of(f.stream))].push_back(&f);
  for (std::size_t p = 0; p < by_partition.size(); ++p) {
    if (by_partition[p].empty()) continue;
    if (auto st = write_partition(static_cast<int>(p), by_partition[p]); !st) return st;
  }
  return Status::ok();
}

Status FrameWriter::write_partition(int p, std::span<const Frame* const> frames) {
  const auto key = layout_.frames_key(p);
  const auto now_us = unix_micros_now();
  std::vector<RedisCommand> commands;
  commands.reserve(frames.size() + 1);
  std::uint64_t bytes = 0;
  for (const Frame* f : frames) {
    auto& xadd = commands.emplace_back("XADD");
    xadd.add(key);
    if (options_.stream_maxlen > 0) xadd.add("MAXLEN").add("~").add(options_.stream_maxlen);
    xadd.add("*");
    // Frames may have waited a little in the source: t is when the ingest node received them.
    const auto waited =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - f->arrival).count();
    add_frame_fields(xadd, *f,
                     f->arrival == Clock::time_point{} ? now_us : now_us - std::max<long long>(0, waited));
    bytes += f->payload.size();
  }
  if (options_.wait_replicas > 0) {
    commands.emplace_back("WAIT")
        .add(static_cast<std::uint64_t>(options_.wait_replicas))
        .add(static_cast<std::uint64_t>(options_.wait_timeout.count()));
  }
  auto& part = *partitions_[static_cast<std::size_t>(p)];
  MutexLock lock(part.mu);
  const auto give_up = Clock::now() + options_.retry_for;
  source::Backoff backoff(std::chrono::milliseconds(50), std::chrono::milliseconds(2000));
  for (int attempt = 1;; ++attempt) {
    if (closed_) return Status(Code::kClosed, "ingest is stopping");
    auto replies = part.conn.pipeline(commands);
    if (replies) {
      for (std::size_t i = 0; i < frames.size(); ++i) {
        if (auto st = reply_status(*(*replies)[i], "XADD " + key); !st) return st;
      }
      if (options_.wait_replicas > 0) {
        const auto acked = reply_integer(*replies->back()).value_or(0);
        if (acked < options_.wait_replicas) {
          return Status(Code::kIo,
                        fmt::format("WAIT: only {} of {} replicas confirmed the frames within {} ms", acked,
                                    options_.wait_replicas, options_.wait_timeout.count()));
        }
      }
      frames_ += frames.size();
      bytes_ += bytes;
      if (attempt > 1) spdlog::info("ingest: writing to {} again after {} attempts", key, attempt);
      return Status::ok();
    }
    if (replies.status().code() == Code::kClosed || Clock::now() >= give_up) return replies.status();
    if (attempt == 1) {
      spdlog::warn("ingest: {}; retrying for up to {} ms (sockets are not read meanwhile)",
                   replies.status().to_string(), options_.retry_for.count());
    }
    std::this_thread::sleep_for(backoff.next());
  }
}

}  // namespace sluice::redis
