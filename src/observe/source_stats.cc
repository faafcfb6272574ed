#include "observe/source_stats.h"

namespace sluice::observe {

const char* source_state_name(SourceState state) {
  switch (state) {
    case SourceState::kStarting:
      return "starting";
    case SourceState::kRunning:
      return "running";
    case SourceState::kBackoff:
      return "backoff";
    case SourceState::kStopped:
      return "stopped";
    case SourceState::kFailed:
      return "failed";
    case SourceState::kReconnecting:
      return "reconnecting";
  }
  return "unknown";
}

const char* drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::kBehind:
      return "behind";
    case DropReason::kCorrupt:
      return "corrupt";
    case DropReason::kLimit:
      return "limit";
    case DropReason::kStopped:
      return "stopped";
  }
  return "unknown";
}

const char* refuse_reason_name(RefuseReason reason) {
  switch (reason) {
    case RefuseReason::kToken:
      return "token";
    case RefuseReason::kStreamId:
      return "stream_id";
    case RefuseReason::kNamePrefix:
      return "name_prefix";
    case RefuseReason::kNoCredential:
      return "no_credential";
    case RefuseReason::kStreamTaken:
      return "stream_taken";
    case RefuseReason::kMaxConnections:
      return "max_connections";
    case RefuseReason::kPerPeer:
      return "per_peer";
    case RefuseReason::kFdExhausted:
      return "fd_exhausted";
    case RefuseReason::kTlsCertificate:
      return "tls_certificate";
    case RefuseReason::kTlsVersion:
      return "tls_version";
    case RefuseReason::kTlsTimeout:
      return "tls_timeout";
    case RefuseReason::kTlsProtocol:
      return "tls_protocol";
  }
  return "unknown";
}

void SourceStats::set_last_error(std::string text) {
  MutexLock lock(mu_);
  last_error_ = std::move(text);
}

std::string SourceStats::last_error() const {
  MutexLock lock(mu_);
  return last_error_;
}

}  // namespace sluice::observe
