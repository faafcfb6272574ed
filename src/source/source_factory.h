// make_source: builds the Source a --source option describes, behind its supervisor.
#pragma once

#include <chrono>
#include <memory>

#include "sluice/file_system.h"
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
};

/// plugin:PATH.so?k=v&...  a plugin (loaded and created now, so a bad path, a missing symbol, an
///                         ABI mismatch or a refused key fails here), under a SupervisedSource.
/// dir:PATH?done=DIR|delete=1&existing=0   a DirSource, under a SupervisedSource.
/// tcp-listen:HOST:PORT, tcp-connect:HOST:PORT   as --listen and --connect (no keys).
/// plugin and dir also take the supervisor's keys: restart_backoff (default 100ms),
/// restart_max_backoff (5s), max_restarts (0 = no limit); these are not passed to the plugin.
Result<std::unique_ptr<Source>> make_source(const SourceSpec& spec, const SourceDefaults& defaults);

}  // namespace sluice::source
