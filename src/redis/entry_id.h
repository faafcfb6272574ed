// EntryId: a Redis stream entry id, "<milliseconds>-<sequence>", ordered as Redis orders them.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::redis {

struct EntryId {
  std::uint64_t ms = 0;   // the Redis server's clock when the entry was added, Unix ms
  std::uint64_t seq = 0;  // orders entries added in the same millisecond

  auto operator<=>(const EntryId&) const = default;
  std::string to_string() const { return std::to_string(ms) + "-" + std::to_string(seq); }
  /// Parses "1700000000000-3" (a bare "1700000000000" means sequence 0).
  static std::optional<EntryId> parse(std::string_view text);
};

}  // namespace sluice::redis
