// JSON string escaping that never trusts its input to be UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

/// Appends `text` to `out` as the inside of a JSON string. Valid UTF-8 passes through; control
/// characters, quotes and backslashes are escaped; every byte that is not part of a valid UTF-8
/// sequence becomes \u00XX, so the output is always valid JSON and the raw bytes stay visible.
void append_json_escaped(std::string& out, std::string_view text);

/// True when `text` is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace sluice
