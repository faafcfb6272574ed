// SourceSpec: the text of one --source option, "KIND:TARGET?key=value&key=value", parsed.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/status.h"

namespace sluice::source {

struct SourceSpec {
  std::string kind;    // "plugin", "dir", "tcp-listen", "tcp-connect"
  std::string target;  // a path or HOST:PORT, as written (not percent-decoded)
  std::vector<std::pair<std::string, std::string>> params;  // percent-decoded, in order
  std::string text;                                         // the whole option, for messages
};

/// Splits at the first ':' (kind) and the first '?' after it (query). The query is '&'-separated
/// key=value items; keys and values are percent-decoded (%26 is '&', %3D is '='). Fails with a
/// message that quotes the offending part: no kind, an empty target, an item without '=' or with
/// an empty key, a bad %-escape.
Result<SourceSpec> parse_source_spec(std::string_view text);

}  // namespace sluice::source
