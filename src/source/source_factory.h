// make_source: builds the Source a --source option describes, behind its supervisor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

#include "net/tls_context.h"
#include "sluice/file_system.h"
#include "sluice/pipeline_config.h"
#include "source/producer_identities.h"
#include "source/source.h"
#include "source/source_spec.h"
#include "wire/frame_codec.h"

namespace sluice::source {

/// Settings of serve that sources share.
struct SourceDefaults {
  std::size_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
  std::size_t max_connections = 1024;
  std::chrono::milliseconds idle_timeout{60000};
  /// Where the dir source reads, moves and deletes files; nullptr: the real file system.
  fs::FileSystem* file_system = nullptr;
  /// --max-pixels: video sources check each stream and picture against it.
  std::uint64_t max_pixels = 64ull << 20;
  /// Channels of the raw pixels video sources produce (3 RGB, 1 gray: the model's input). 0: the
  /// consumer takes encoded frames only (ingest), so video sources are refused.
  int video_channels = 0;
  /// The model's resize target (width, height) for a width x height picture: video sources convert
  /// large pictures straight to a smaller size when it is small. Empty: always the full size.
  std::function<std::pair<int, int>(int, int)> video_resize_target{};
  /// tcp-listen: --max-connections-per-peer, and --tokens (nullptr: none).
  std::size_t max_connections_per_peer = kDefaultMaxConnectionsPerPeer;
  std::shared_ptr<const ProducerIdentities> identities{};
  /// --tls-cert, --tls-key, --tls-ca: TLS on tcp-listen sources (all empty: plain TCP).
  net::TlsServerFiles tls{};
};

/// plugin:PATH.so?k=v&...  a plugin (loaded and created now, so a bad path, a missing symbol, an
///                         ABI mismatch or a refused key fails here), under a SupervisedSource.
/// dir:PATH?done=DIR|delete=1&existing=0   a DirSource, under a SupervisedSource.
/// tcp-listen:HOST:PORT, tcp-connect:HOST:PORT   as --listen and --connect (no keys).
/// video:URL?k=v&...   a VideoSource (src/video/): files, rtsp://, udp://, tcp://, http(s)://.
/// plugin and dir also take the supervisor's keys: restart_backoff (default 100ms),
/// restart_max_backoff (5s), max_restarts (0 = no limit); these are not passed to the plugin.
Result<std::unique_ptr<Source>> make_source(const SourceSpec& spec, const SourceDefaults& defaults);

}  // namespace sluice::source
