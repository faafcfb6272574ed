// StreamLayout: the names of sluice's Redis keys, and which partition a producer stream uses.
#pragma once

#include <cstdint>
#include <string>

#include "sluice/status.h"

namespace sluice::redis {

/// Frames, results and dead letters each live in `partitions` streams named "{prefix}:{p}". The
/// braces are a Redis Cluster hash tag: partition p of every prefix hashes to the same slot (so a
/// result and the XACK of its frame go in one MULTI/EXEC), and different partitions hash to
/// different slots, which the cluster spreads over its shards. Every node (ingest, worker,
/// results reader) must use the same layout.
struct StreamLayout {
  std::string frames_prefix = "sluice:frames";
  std::string results_prefix = "sluice:results";
  std::string dead_prefix = "sluice:dead";
  int partitions = 4;

  std::string frames_key(int p) const { return key(frames_prefix, p); }
  std::string results_key(int p) const { return key(results_prefix, p); }
  std::string dead_key(int p) const { return key(dead_prefix, p); }
  /// INCR counter that numbers plain producer connections across every ingest node.
  std::string stream_ids_key() const { return frames_prefix + ":stream-ids"; }

  /// The partition of producer stream `stream`: a hash, so sequential ids spread evenly and one
  /// stream's frames stay in one partition (ordered there).
  int partition_of(std::uint64_t stream) const;

  /// Partitions in 1..1024, non-empty and distinct prefixes.
  Status validate() const;

 private:
  static std::string key(const std::string& prefix, int p) { return prefix + ":{" + std::to_string(p) + "}"; }
};

}  // namespace sluice::redis
