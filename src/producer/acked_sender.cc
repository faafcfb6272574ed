#include "producer/acked_sender.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/tls_transport.h"
#include "wire/frame_codec.h"
#include "wire/protocol_v2.h"

namespace sluice::producer {
namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kOutBytes = 256 * 1024;

enum class SessionEnd { kDone, kBroken };

// One connection's state that survives reconnects.
struct Lane {
  std::vector<std::size_t> frames;  // seq -> index into the set
  std::uint64_t stream = 0;
  std::uint64_t acked = 0;  // every seq below this is acknowledged
};

// Runs one connection until every frame is acknowledged (kDone) or it breaks (kBroken).
SessionEnd run_session(net::Transport& io, int fd, const FrameSet& set, Lane& lane,
                       const AckedSendOptions& options, double rate, SteadyClock::time_point& last_progress,
                       SendProgress& progress, std::string& why) {
  std::vector<std::uint8_t> out;
  std::size_t out_pos = 0;
  const auto hello_payload = wire::encode_hello({lane.stream, lane.acked, options.token});
  (void)wire::append_record(wire::kHelloName, hello_payload, out);
  std::uint64_t next = lane.acked;  // next seq to send in this session
  bool eos_queued = false;
  const auto start = SteadyClock::now();
  const std::uint64_t session_first = next;
  wire::FrameDecoder acks(64);
  wire::WireRecord record;
  std::vector<std::uint8_t> in(4096);
  using Io = net::Transport::Io;
  bool read_wants_write = false;  // TLS: a read goes on once the socket is writable
  while (true) {
    if (progress.cancel) {
      why = "cancelled";
      return SessionEnd::kBroken;
    }
    // Fill the output while the window allows (and the rate, if any).
    auto now = SteadyClock::now();
    while (out.size() - out_pos < kOutBytes && next < lane.frames.size() &&
           next - lane.acked < options.window) {
      if (rate > 0 && start + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
                                  static_cast<double>(next - session_first) / rate)) >
                          now) {
        break;
      }
      const auto& frame = set.frames[lane.frames[next]];
      (void)wire::append_record(frame.name, frame.payload, out);
      ++next;
    }
    if (next == lane.frames.size() && !eos_queued) {
      const auto eos = wire::end_of_stream_record();
      out.insert(out.end(), eos.begin(), eos.end());
      eos_queued = true;
    }
    // Acks TLS already decrypted are readable now, whatever poll says.
    const bool buffered = io.has_buffered_input();
    pollfd pfd{fd, static_cast<short>(POLLIN | (out_pos < out.size() || read_wants_write ? POLLOUT : 0)), 0};
    if (::poll(&pfd, 1, buffered ? 0 : 20) < 0 && errno != EINTR) {
      why = std::strerror(errno);
      return SessionEnd::kBroken;
    }
    if ((pfd.revents & POLLOUT) && out_pos < out.size()) {
      const auto sent = io.send(std::span<const std::uint8_t>(out).subspan(out_pos));
      if (sent.io == Io::kError || sent.io == Io::kEof) {
        why = sent.error.is_ok() ? std::string("the server closed the connection") : sent.error.message();
        return SessionEnd::kBroken;
      }
      if (sent.io == Io::kOk) out_pos += sent.bytes;
      if (out_pos == out.size()) {
        out.clear();
        out_pos = 0;
      }
    }
    if (buffered || (pfd.revents & (POLLIN | POLLHUP | POLLERR)) ||
        (read_wants_write && (pfd.revents & POLLOUT))) {
      read_wants_write = false;
      const auto got = io.recv(in);
      if (got.io == Io::kEof || got.io == Io::kError) {
        if (lane.acked == lane.frames.size()) return SessionEnd::kDone;
        why = got.io == Io::kEof ? std::string("the server closed the connection") : got.error.message();
        return SessionEnd::kBroken;
      }
      read_wants_write = got.io == Io::kWantWrite;
      std::span<const std::uint8_t> bytes(in.data(), got.io == Io::kOk ? got.bytes : 0);
      while (!bytes.empty()) {
        auto event = acks.next(bytes, record);
        if (!event || *event == wire::DecodeEvent::kEndOfStream) {
          why = "the server sent something that is not an ack";
          return SessionEnd::kBroken;
        }
        if (*event != wire::DecodeEvent::kRecord || record.name != wire::kAckName) continue;
        auto acked = wire::parse_ack(record.payload);
        if (acked && *acked > lane.acked && *acked <= lane.frames.size()) {
          progress.frames.fetch_add(*acked - lane.acked, std::memory_order_relaxed);
          for (auto s = lane.acked; s < *acked; ++s) {
            progress.bytes.fetch_add(set.frames[lane.frames[s]].payload.size(), std::memory_order_relaxed);
          }
          lane.acked = *acked;
          last_progress = SteadyClock::now();
        }
      }
      if (lane.acked == lane.frames.size() && eos_queued && out_pos == out.size()) return SessionEnd::kDone;
    }
  }
}

Status run_lane(const FrameSet& set, const net::Endpoint& to, Lane& lane, const AckedSendOptions& options,
                double rate, SendProgress& progress, const net::TlsClient* tls) {
  auto last_progress = SteadyClock::now();
  auto backoff = std::chrono::milliseconds(100);
  std::string why;
  while (true) {
    if (progress.cancel) return Status(Code::kClosed, "cancelled");
    if (SteadyClock::now() - last_progress > options.give_up_after) {
      return Status(Code::kIo,
                    fmt::format("no progress for {} s (last: {}); {} of {} frames acknowledged",
                                options.give_up_after.count() / 1000, why, lane.acked, lane.frames.size()));
    }
    auto conn = net::connect_client(to, tls, std::chrono::milliseconds(2000));
    if (!conn) {
      why = conn.status().message();
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      continue;
    }
    last_progress = SteadyClock::now();
    if (run_session(conn->io, conn->fd.get(), set, lane, options, rate, last_progress, progress, why) ==
        SessionEnd::kDone) {
      return Status::ok();
    }
    spdlog::warn("stream {}: {}; reconnecting and re-sending from frame {}", lane.stream, why, lane.acked);
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace

Result<SendSummary> send_frames_acked(const FrameSet& set, const net::Endpoint& to,
                                      const AckedSendOptions& options, SendProgress& progress,
                                      const net::TlsClient* tls) {
  const auto lanes = static_cast<std::size_t>(std::max(1, options.send.connections));
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  std::uniform_int_distribution<std::uint64_t> ids(wire::kMinProducerStreamId, (1ull << 62));
  std::vector<Lane> state(lanes);
  for (std::size_t l = 0; l < lanes; ++l) {
    state[l].stream = options.first_stream != 0 ? options.first_stream + l : ids(rng);
    for (int r = 0; r < std::max(1, options.send.repeat); ++r) {
      for (std::size_t i = l; i < set.frames.size(); i += lanes) state[l].frames.push_back(i);
    }
  }
  const auto start = SteadyClock::now();
  std::vector<Status> results(lanes);
  {
    std::vector<std::jthread> threads;
    for (std::size_t l = 0; l < lanes; ++l) {
      threads.emplace_back([&, l] {
        results[l] = run_lane(set, to, state[l], options, options.send.rate / static_cast<double>(lanes),
                              progress, tls);
        if (!results[l]) progress.cancel = true;
      });
    }
  }
  for (const auto& st : results) {
    if (!st && st.code() != Code::kClosed) return st;
  }
  for (const auto& st : results) {
    if (!st) return st;
  }
  SendSummary summary;
  summary.frames = progress.frames;
  summary.bytes = progress.bytes;
  summary.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return summary;
}

}  // namespace sluice::producer
