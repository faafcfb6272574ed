// Small helpers shared by the example plugins: error buffers and config values. Header-only, so
// a plugin links nothing of sluice.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::plugin_util {

/// Writes `message` into a plugin-API error buffer (NUL-terminated, cut to fit).
inline void write_error(char* buffer, std::size_t size, std::string_view message) {
  if (buffer == nullptr || size == 0) return;
  const std::size_t n = std::min(message.size(), size - 1);
  std::memcpy(buffer, message.data(), n);
  buffer[n] = '\0';
}

/// A whole decimal number in [min, max], or nothing.
inline std::optional<std::uint64_t> parse_u64(std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    return std::nullopt;
  return value;
}

/// 1/0, true/false, yes/no.
inline std::optional<bool> parse_flag(std::string_view text) {
  if (text == "1" || text == "true" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "no") return false;
  return std::nullopt;
}

}  // namespace sluice::plugin_util
