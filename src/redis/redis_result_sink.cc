#include "redis/redis_result_sink.h"

#include <cstdlib>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sink/json_lines_sink.h"
#include "source/backoff.h"

namespace sluice::redis {

RedisResultSink::RedisResultSink(const RedisUrl& url, ResultSinkOptions options, const InFlightTable& table)
    : options_(std::move(options)), table_(table) {
  for (int p = 0; p < options_.layout.partitions; ++p) {
    partitions_.push_back(std::make_unique<Partition>(url, options_.connection));
  }
}

Status RedisResultSink::write(std::span<sink::ResultRecord> records) {
  staged_.insert(staged_.end(), records.begin(), records.end());
  return Status::ok();
}

Status RedisResultSink::commit(sink::Durability) {
  std::vector<sink::ResultRecord> records;
  records.swap(staged_);
  if (!options_.crash_on_name.empty()) {
    for (const auto& r : records) {
      if (r.name == options_.crash_on_name) {
        spdlog::critical("frame '{}' (stream {}, seq {}) matches --crash-on-name: aborting (testing)", r.name,
                         r.stream, r.seq);
        spdlog::default_logger()->flush();
        std::abort();
      }
    }
  }
  std::vector<std::vector<const sink::ResultRecord*>> by_partition(partitions_.size());
  for (const auto& r : records) {
    const auto entry = table_.find(r.token);
    const int p = entry ? entry->partition : options_.layout.partition_of(r.stream);
    by_partition[static_cast<std::size_t>(p)].push_back(&r);
  }
  Status result;
  for (std::size_t p = 0; p < by_partition.size(); ++p) {
    if (by_partition[p].empty()) continue;
    if (auto st = write_partition(static_cast<int>(p), by_partition[p]); !st && result) result = st;
  }
  return result;
}

Status RedisResultSink::write_partition(int p, std::span<const sink::ResultRecord* const> records) {
  const auto& layout = options_.layout;
  const std::string results_key = layout.results_key(p);
  std::vector<RedisCommand> commands;
  commands.emplace_back("MULTI");
  RedisCommand xack("XACK");
  xack.add(layout.frames_key(p)).add(options_.group);
  std::size_t acks = 0;
  std::string line;
  for (const auto* r : records) {
    const auto entry = table_.find(r->token);
    line.clear();
    sink::append_json_line(*r, line);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    auto& xadd = commands.emplace_back("XADD");
    xadd.add(results_key);
    if (options_.results_maxlen > 0)
      xadd.add("MAXLEN").add("~").add(static_cast<std::uint64_t>(options_.results_maxlen));
    xadd.add("*").add("stream").add(r->stream).add("seq").add(r->seq).add("line").add(line);
    xadd.add("worker").add(options_.consumer);
    if (entry) {
      xadd.add("entry").add(entry->id).add("deliveries").add(static_cast<std::uint64_t>(entry->deliveries));
      xack.add(entry->id);
      ++acks;
    }
  }
  if (acks > 0) commands.push_back(std::move(xack));
  commands.emplace_back("EXEC");

  auto& part = *partitions_[static_cast<std::size_t>(p)];
  MutexLock lock(part.mu);
  const auto give_up = Clock::now() + options_.retry_for;
  source::Backoff backoff(std::chrono::milliseconds(50), std::chrono::milliseconds(2000));
  for (int attempt = 1;; ++attempt) {
    auto replies = part.conn.pipeline(commands);
    if (replies) {
      const redisReply& exec = *replies->back();
      if (exec.type != REDIS_REPLY_ARRAY) {
        // The transaction did not run (EXECABORT: a command was refused when queued).
        for (const auto& r : *replies) {
          if (reply_is_error(*r)) return reply_status(*r, fmt::format("writing results to {}", results_key));
        }
        return Status(Code::kIo,
                      fmt::format("writing results to {}: the transaction was aborted", results_key));
      }
      for (std::size_t i = 0; i < exec.elements; ++i) {
        if (auto st = reply_status(*exec.element[i], fmt::format("writing results to {}", results_key));
            !st) {
          return st;
        }
      }
      written_ += records.size();
      if (attempt > 1)
        spdlog::info("redis: results written to {} again after {} attempts", results_key, attempt);
      return Status::ok();
    }
    if (replies.status().code() == Code::kClosed || cancelled_ || Clock::now() >= give_up)
      return replies.status();
    if (attempt == 1) {
      spdlog::warn("{}; retrying for up to {} ms (the frames stay pending in Redis until then)",
                   replies.status().to_string(), options_.retry_for.count());
    }
    std::this_thread::sleep_for(backoff.next());
  }
}

}  // namespace sluice::redis
