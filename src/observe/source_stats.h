// SourceStats: one source's counters and state, for logs, metrics and the dashboard.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "util/mutex.h"

namespace sluice::observe {

enum class SourceState { kStarting, kRunning, kBackoff, kStopped, kFailed, kReconnecting };

const char* source_state_name(SourceState state);

/// Why a source let a frame go without storing it (live sources shed load instead of blocking).
enum class DropReason : std::size_t {
  kBehind,   // the pipeline was behind: the source's bounded queue was full
  kCorrupt,  // a packet or picture the decoder rejected
  kLimit,    // a picture over --max-pixels
  kStopped,  // still queued when the source stopped
};
inline constexpr std::size_t kDropReasons = 4;

const char* drop_reason_name(DropReason reason);

/// Why a listening source refused a producer's connection (or closed it at its hello or at a
/// frame it may not send) before anything of it reached the write-ahead log or the output.
enum class RefuseReason : std::size_t {
  kToken,           // the hello's token is not in --tokens
  kStreamId,        // the hello's stream id is not one of its identity's ids
  kNamePrefix,      // a frame's name is outside its identity's prefixes
  kNoCredential,    // no token (a plain producer, or a hello without one) while --tokens is set
  kStreamTaken,     // a live connection holds the hello's stream id
  kMaxConnections,  // --max-connections
  kPerPeer,         // --max-connections-per-peer
  kFdExhausted,     // accept failed: the process or system is out of file descriptors
  kTlsCertificate,  // TLS: no client certificate, or one --tls-ca does not sign
  kTlsVersion,      // TLS: below 1.2, or nothing in common
  kTlsTimeout,      // TLS: the handshake did not complete in time
  kTlsProtocol,     // TLS: not TLS at all (a plaintext producer), or it broke off
};
inline constexpr std::size_t kRefuseReasons = 12;

const char* refuse_reason_name(RefuseReason reason);

class SourceStats {
 public:
  explicit SourceStats(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> errors{0};  // framing errors, failed connects, plugin reports
  std::atomic<std::uint64_t> restarts{0};
  std::atomic<std::uint64_t> streams_open{0};
  /// Frames let go without being stored, by DropReason.
  std::array<std::atomic<std::uint64_t>, kDropReasons> dropped{};
  /// Payload bytes waiting in the source's own queue, before the pipeline (a gauge).
  std::atomic<std::uint64_t> queued_bytes{0};

  void count_drop(DropReason reason, std::uint64_t n = 1) {
    dropped[static_cast<std::size_t>(reason)].fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t drops(DropReason reason) const {
    return dropped[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }

  /// Connections refused, by RefuseReason.
  std::array<std::atomic<std::uint64_t>, kRefuseReasons> refused{};

  void count_refused(RefuseReason reason) {
    refused[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t refusals(RefuseReason reason) const {
    return refused[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }

  void set_state(SourceState state) { state_ = state; }
  SourceState state() const { return state_; }
  void set_last_error(std::string text);
  std::string last_error() const;

 private:
  std::string name_;
  std::atomic<SourceState> state_{SourceState::kStarting};
  mutable Mutex mu_;
  std::string last_error_ GUARDED_BY(mu_);
};

}  // namespace sluice::observe
