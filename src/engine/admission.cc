#include "engine/admission.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sluice::engine {
namespace {

std::size_t payload_bytes(const std::vector<Frame>& frames) {
  std::size_t bytes = 0;
  for (const auto& f : frames) bytes += f.payload.size();
  return bytes;
}

}  // namespace

Status SourcePort::too_large(std::size_t bytes) const {
  return Status(Code::kLimit, fmt::format("a frame of {} bytes can never fit the memory budget of {} bytes "
                                          "(rule: --memory-budget)",
                                          bytes, services_.budget.limit()));
}

Status SourcePort::store_many(std::vector<Frame>& frames) {
  if (frames.empty()) return Status::ok();
  for (const auto& f : frames) {
    if (!services_.budget.fits(f.payload.size())) return too_large(f.payload.size());
  }
  const std::size_t bytes = payload_bytes(frames);
  if (!services_.budget.fits(bytes)) {
    // Together they could never fit: one at a time.
    for (auto& f : frames) {
      std::vector<Frame> one;
      one.push_back(std::move(f));
      if (auto st = store_many(one); !st) return st;
    }
    return Status::ok();
  }
  if (!limiter_.acquire(static_cast<double>(frames.size())))
    return Status(Code::kClosed, "the pipeline is stopping");
  if (!services_.budget.acquire(bytes)) return Status(Code::kClosed, "the pipeline is stopping");
  // Counted before the log, on the source's thread: a stream is never closed before its frames.
  if (services_.streams != nullptr) services_.streams->entered(frames);
  if (services_.wal != nullptr) {
    // Frames replayed from the log carry their old position and are not logged twice. Runs of
    // each kind keep their order.
    for (std::size_t begin = 0; begin < frames.size();) {
      const bool replayed = frames[begin].wal_lsn != 0;
      std::size_t end = begin;
      while (end < frames.size() && (frames[end].wal_lsn != 0) == replayed) ++end;
      if (!replayed) {
        if (auto st = services_.wal->append(std::span<Frame>(frames).subspan(begin, end - begin)); !st) {
          services_.budget.release(bytes);
          if (services_.streams != nullptr) services_.streams->done(frames);
          return st;
        }
      }
      begin = end;
    }
  }
  enter(frames);
  return Status::ok();
}

source::Reservation SourcePort::try_reserve(std::size_t bytes, std::size_t frames) {
  using Kind = source::Reservation::Kind;
  if (!services_.budget.fits(bytes)) return {Kind::kNever, {}, too_large(bytes)};
  const auto permits = static_cast<double>(frames);
  if (frames > 0) {
    if (const auto wait = limiter_.try_acquire(permits); wait.count() > 0) return {Kind::kWait, wait, {}};
  }
  if (!services_.budget.try_acquire(bytes)) {
    if (frames > 0) limiter_.refund(permits);
    return {Kind::kWait, {}, {}};
  }
  return {};
}

void SourcePort::admit(std::vector<Frame> frames, std::function<void(const Status&)> admitted) {
  if (services_.streams != nullptr) services_.streams->entered(frames);
  if (services_.wal == nullptr) {
    enter(frames);
    admitted(Status::ok());
    return;
  }
  services_.wal->append_async(std::move(frames),
                              [this, admitted = std::move(admitted)](Status st, std::vector<Frame> logged) {
                                if (st) {
                                  enter(logged);
                                } else {
                                  services_.budget.release(payload_bytes(logged));
                                  if (services_.streams != nullptr) services_.streams->done(logged);
                                }
                                admitted(st);
                              });
}

void SourcePort::enter(std::vector<Frame>& frames) {
  const std::size_t bytes = payload_bytes(frames);
  services_.metrics.frames_received.fetch_add(frames.size(), std::memory_order_relaxed);
  services_.metrics.bytes_received.fetch_add(bytes, std::memory_order_relaxed);
  stats_.frames.fetch_add(frames.size(), std::memory_order_relaxed);
  stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
  for (auto& f : frames) generator_.append(std::move(f));
  if (services_.frames_arrived) services_.frames_arrived();
}

Result<std::uint64_t> SourcePort::open_stream(std::string_view peer) {
  auto id = services_.stream_ids.next();
  if (!id) {
    report_error(id.status());
    return id.status();
  }
  ++services_.metrics.streams_opened;
  ++stats_.streams_open;
  spdlog::debug("{}: stream {} from {}", stats_.name(), *id, peer);
  return id;
}

void SourcePort::close_stream(std::uint64_t stream, const Status& why) {
  --stats_.streams_open;
  if (services_.streams != nullptr) services_.streams->closed(stream);
  if (why.is_ok() || why.code() == Code::kClosed) return;
  ++services_.metrics.streams_failed;
  ++stats_.errors;
  stats_.set_last_error(why.to_string());
}

void SourcePort::report_error(const Status& error) {
  ++stats_.errors;
  stats_.set_last_error(error.to_string());
  spdlog::warn("{}: {}", stats_.name(), error.to_string());
}

}  // namespace sluice::engine
