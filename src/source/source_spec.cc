#include "source/source_spec.h"

#include <fmt/format.h>

namespace sluice::source {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view in, std::string_view whole) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Status(
          Code::kInvalidArgument,
          fmt::format("--source '{}': bad %-escape in '{}' (use %XX with two hex digits)", whole, in));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

Result<SourceSpec> parse_source_spec(std::string_view text) {
  auto bad = [&](std::string why) {
    return Status(Code::kInvalidArgument, fmt::format("--source '{}': {}", text, why));
  };
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return bad("expected KIND:TARGET, e.g. plugin:./libmy_source.so?key=value or dir:/data/in");
  }
  SourceSpec spec;
  spec.text = std::string(text);
  spec.kind = std::string(text.substr(0, colon));
  const auto rest = text.substr(colon + 1);
  const auto question = rest.find('?');
  spec.target = std::string(rest.substr(0, question));
  if (spec.target.empty()) return bad(fmt::format("'{}' needs a target after the ':'", spec.kind));
  if (question == std::string_view::npos) return spec;
  std::string_view query = rest.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) return bad("empty key=value item (two '&' in a row, or a trailing '&')");
    if (amp != std::string_view::npos && query.empty()) return bad("trailing '&'");
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return bad(fmt::format("'{}' is not key=value", item));
    if (eq == 0) return bad(fmt::format("'{}' has an empty key", item));
    auto key = percent_decode(item.substr(0, eq), text);
    if (!key) return key.status();
    auto value = percent_decode(item.substr(eq + 1), text);
    if (!value) return value.status();
    spec.params.emplace_back(std::move(*key), std::move(*value));
  }
  return spec;
}

}  // namespace sluice::source
