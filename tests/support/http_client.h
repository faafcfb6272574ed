// A minimal HTTP/1.0 client for loopback tests, and a strict parser of the Prometheus text format
// (sluice's /metrics), so that tests assert on samples rather than on text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace sluice::test {

struct HttpReply {
  int status = 0;  // 0: no reply (refused, timed out, not HTTP)
  std::string headers;
  std::string body;
};

/// One GET on 127.0.0.1:port; the server closes the connection after its reply (10 s at most).
HttpReply http_get(std::uint16_t port, const std::string& path);

/// Samples of a Prometheus text page, keyed as written: `name{label="value",...}`.
using MetricSamples = std::map<std::string, double>;

/// One sample line, `name{label="value",...} value`: the key as written, and the value. Stricter
/// than the format where sluice never needs it: no timestamps, no empty or trailing-comma label sets.
std::optional<std::pair<std::string, double>> parse_sample(const std::string& line);
/// Strict: a line that is neither a HELP/TYPE comment nor a well-formed sample, or a duplicate
/// sample, fails the current test (the samples that parsed are still returned).
MetricSamples parse_exposition(const std::string& text);
/// The sum of every sample of `name`, whatever its labels.
double sum_of(const MetricSamples& samples, const std::string& name);
/// promtool (Debian's prometheus) parses and lints `text`; "" when clean, else what it said.
/// `dir` holds its input and output files.
std::string promtool_problems(const std::string& dir, const std::string& text);

}  // namespace sluice::test
