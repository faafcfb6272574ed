#include "support/http_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "net/socket.h"
#include "support/child_process.h"

namespace sluice::test {
namespace {

bool is_name_char(char c, bool first, bool colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return alpha || (!first && c >= '0' && c <= '9');
}

// Reads a metric (colon = true) or label name at `pos`; "" when there is none.
std::string read_name(const std::string& line, std::size_t& pos, bool colon) {
  const std::size_t start = pos;
  while (pos < line.size() && is_name_char(line[pos], pos == start, colon)) ++pos;
  return line.substr(start, pos - start);
}

}  // namespace

HttpReply http_get(std::uint16_t port, const std::string& path) {
  HttpReply reply;
  auto fd = net::connect_tcp({"127.0.0.1", port}, std::chrono::milliseconds(5000));
  if (!fd) return reply;
  timeval timeout{10, 0};
  setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  if (!net::write_all(fd->get(), {reinterpret_cast<const std::uint8_t*>(request.data()), request.size()}))
    return reply;
  std::string raw;
  char buf[65536];
  while (true) {
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  const auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || raw.size() < 12) return reply;
  reply.status = std::atoi(raw.substr(9, 3).c_str());
  reply.headers = raw.substr(0, end);
  reply.body = raw.substr(end + 4);
  return reply;
}

std::optional<std::pair<std::string, double>> parse_sample(const std::string& line) {
  std::size_t pos = 0;
  if (read_name(line, pos, true).empty()) return std::nullopt;
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (true) {
      if (read_name(line, pos, false).empty() || pos + 1 >= line.size() || line[pos] != '=' ||
          line[pos + 1] != '"') {
        return std::nullopt;
      }
      pos += 2;
      while (pos < line.size() && line[pos] != '"') {
        if (line[pos] == '\\') {
          if (pos + 1 >= line.size() || std::string("\\\"n").find(line[pos + 1]) == std::string::npos)
            return std::nullopt;
          ++pos;
        }
        ++pos;
      }
      if (pos >= line.size()) return std::nullopt;
      ++pos;  // the closing quote
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        break;
      }
      return std::nullopt;
    }
  }
  if (pos >= line.size() || line[pos] != ' ') return std::nullopt;
  const std::string key = line.substr(0, pos);
  const std::string value = line.substr(pos + 1);
  if (value == "+Inf") return std::make_pair(key, std::numeric_limits<double>::infinity());
  if (value == "-Inf") return std::make_pair(key, -std::numeric_limits<double>::infinity());
  if (value == "NaN") return std::make_pair(key, std::nan(""));
  if (value.empty() || value.find_first_not_of("0123456789.eE+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (end != value.c_str() + value.size()) return std::nullopt;
  return std::make_pair(key, v);
}

MetricSamples parse_exposition(const std::string& text) {
  MetricSamples out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::size_t pos = 7;
      const bool named = !read_name(line, pos, true).empty() && pos < line.size() && line[pos] == ' ';
      EXPECT_TRUE(named) << line;
      if (named && line.rfind("# TYPE ", 0) == 0) {
        const std::string type = line.substr(pos + 1);
        EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" || type == "summary" ||
                    type == "untyped")
            << line;
      }
    } else if (const auto sample = parse_sample(line)) {
      EXPECT_FALSE(out.contains(sample->first)) << "duplicate sample " << line;
      out[sample->first] = sample->second;
    } else {
      ADD_FAILURE() << "not an exposition-format line: '" << line << "'";
    }
  }
  return out;
}

double sum_of(const MetricSamples& samples, const std::string& name) {
  double sum = 0;
  for (const auto& [key, value] : samples) {
    if (key == name || key.rfind(name + "{", 0) == 0) sum += value;
  }
  return sum;
}

std::string promtool_problems(const std::string& dir, const std::string& text) {
  const std::string in = dir + "/metrics.txt";
  const std::string out = dir + "/promtool.out";
  std::ofstream(in) << text;
  const int rc = std::system(fmt::format("promtool check metrics < '{}' > '{}' 2>&1", in, out).c_str());
  return rc == 0 ? std::string() : "promtool failed (" + std::to_string(rc) + "): " + read_file(out);
}

}  // namespace sluice::test
