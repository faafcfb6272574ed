#include "util/quantity.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

namespace sluice {
namespace {

// Splits "1.5s" into 1.5 and "s". Fails when there is no leading number.
bool split_number(std::string_view text, double& value, std::string& unit) {
  const std::string s(text);
  char* end = nullptr;
  value = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || s.empty() || std::isspace(static_cast<unsigned char>(s.front()))) return false;
  unit.assign(end);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::isfinite(value);
}

Status bad(std::string message) {
  return Status(Code::kInvalidArgument, std::move(message));
}

}  // namespace

Result<std::chrono::microseconds> parse_duration(std::string_view text) {
  double value = 0;
  std::string unit;
  if (!split_number(text, value, unit)) {
    return bad(fmt::format("'{}' is not a duration (examples: 500us, 200ms, 1.5s, 2min)", text));
  }
  double us = 0;
  if (unit.empty() || unit == "ms") {
    us = value * 1e3;
  } else if (unit == "us") {
    us = value;
  } else if (unit == "s") {
    us = value * 1e6;
  } else if (unit == "m" || unit == "min") {
    us = value * 6e7;
  } else {
    return bad(fmt::format("'{}': unknown duration unit '{}' (use us, ms, s or min)", text, unit));
  }
  if (us < 0) return bad(fmt::format("duration '{}' must not be negative", text));
  if (us > 1e15) return bad(fmt::format("duration '{}' is too long", text));
  return std::chrono::microseconds(static_cast<long long>(std::llround(us)));
}

Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text) {
  auto us = parse_duration(text);
  if (!us) return us.status();
  return std::chrono::milliseconds(std::llround(static_cast<double>(us->count()) / 1e3));
}

Result<std::uint64_t> parse_size(std::string_view text) {
  double value = 0;
  std::string unit;
  if (!split_number(text, value, unit)) {
    return bad(fmt::format("'{}' is not a size (examples: 4096, 64KiB, 512MiB, 1GiB)", text));
  }
  double mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  if (unit == "kib" || unit == "k") mult = 1024.0;
  if (unit == "mib" || unit == "m") mult = 1024.0 * 1024;
  if (unit == "gib" || unit == "g") mult = 1024.0 * 1024 * 1024;
  if (unit == "kb") mult = 1e3;
  if (unit == "mb") mult = 1e6;
  if (unit == "gb") mult = 1e9;
  if (mult == 0) {
    return bad(fmt::format("'{}': unknown size unit '{}' (use B, KiB, MiB, GiB, KB, MB, GB)", text, unit));
  }
  if (value < 0) return bad(fmt::format("size '{}' must not be negative", text));
  const double bytes = value * mult;
  if (bytes > 1.8e19) return bad(fmt::format("size '{}' is too large", text));
  return static_cast<std::uint64_t>(bytes);
}

Result<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return bad(fmt::format("'{}' is not a non-negative integer", text));
  }
  return n;
}

Result<bool> parse_flag(std::string_view text) {
  if (text == "1" || text == "true" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "no" || text == "off") return false;
  return bad(fmt::format("'{}' is not a flag (1/0, true/false, yes/no, on/off)", text));
}

Result<double> parse_decimal(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return bad(fmt::format("'{}' is not a decimal number", text));
  }
  return value;
}

Status bad_value(const KeyValue& option, std::string_view expected) {
  return bad(fmt::format("{}: {}={} is not {}", option.context, option.key, option.value, expected));
}

Result<std::uint64_t> parse_count(const KeyValue& option) {
  auto n = parse_count(option.value);
  if (!n) return bad_value(option, "a non-negative integer");
  return n;
}

Result<std::chrono::milliseconds> parse_positive_duration_ms(const KeyValue& option) {
  auto d = parse_duration_ms(option.value);
  if (!d || d->count() <= 0) return bad_value(option, "a positive duration such as 250ms, 2s or 1min");
  return d;
}

Result<bool> parse_flag(const KeyValue& option) {
  auto flag = parse_flag(option.value);
  if (!flag) return bad_value(option, "a flag (1/0, true/false, yes/no, on/off)");
  return flag;
}

Result<double> parse_positive_decimal(const KeyValue& option) {
  auto v = parse_decimal(option.value);
  if (!v || !(*v > 0)) return bad_value(option, "a positive number");
  return v;
}

}  // namespace sluice
