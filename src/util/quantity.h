// One grammar for the durations, sizes, counts and flags that options, config files and
// --source keys take.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "sluice/status.h"

namespace sluice {

/// "500us", "250ms", "1.5s", "2min" (also "m"), or a bare number of milliseconds. Negative values
/// and unknown units are errors that give examples.
Result<std::chrono::microseconds> parse_duration(std::string_view text);
/// The same, rounded to the millisecond.
Result<std::chrono::milliseconds> parse_duration_ms(std::string_view text);
/// "4096" (bytes), "64KiB", "512MiB", "1GiB" (also K, M, G), or decimal "64KB", "1MB", "1GB".
Result<std::uint64_t> parse_size(std::string_view text);
/// A non-negative integer in decimal.
Result<std::uint64_t> parse_count(std::string_view text);
/// 1/0, true/false, yes/no, on/off.
Result<bool> parse_flag(std::string_view text);
/// A finite decimal number: "5", "2.5", "0.25", "-1.5" (no unit).
Result<double> parse_decimal(std::string_view text);

/// The value of a `key=value` option (a --source key), with where it was given, for messages.
struct KeyValue {
  std::string_view context;  // e.g. "--source 'dir:/in?delete=2'"; must not hold credentials
  std::string_view key;
  std::string_view value;
};
/// "CONTEXT: KEY=VALUE is not EXPECTED".
Status bad_value(const KeyValue& option, std::string_view expected);
/// The grammar above for a key's value; an error is bad_value() saying what the key takes.
Result<std::uint64_t> parse_count(const KeyValue& option);
/// A duration above zero, to the millisecond.
Result<std::chrono::milliseconds> parse_positive_duration_ms(const KeyValue& option);
Result<bool> parse_flag(const KeyValue& option);
/// A decimal number above zero.
Result<double> parse_positive_decimal(const KeyValue& option);

}  // namespace sluice
