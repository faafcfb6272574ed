// End to end: what an operator sees. The --http endpoint (Prometheus metrics checked by promtool,
// the JSON API, the dashboard's files), config files, and the terminal progress.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "net/socket.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/image_encoder.h"
#include "wire/frame_codec.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;
};

// One HTTP/1.0 GET on loopback: the server closes the connection after its reply.
HttpReply http_get(std::uint16_t port, const std::string& path) {
  HttpReply reply;
  auto fd = net::connect_tcp({"127.0.0.1", port}, 5000ms);
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
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, end);
  reply.body = raw.substr(end + 4);
  return reply;
}

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

// One sample line, `name{label="value",...} value`: the key as written, and the value. Stricter
// than the format where sluice never needs it: no timestamps, no empty or trailing-comma label sets.
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

// The samples of a Prometheus text page, keyed as written: `name{label="value",...}`. Strict: a
// line that is neither a HELP/TYPE comment nor a well-formed sample fails the test.
std::map<std::string, double> parse_exposition(const std::string& text) {
  std::map<std::string, double> out;
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

TEST(ExpositionParser, AcceptsSamplesAndRejectsMalformedLines) {
  const auto ok = parse_sample(R"(a_total{source="x \"y\" \\ z",le="+Inf"} 1.5e3)");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, R"(a_total{source="x \"y\" \\ z",le="+Inf"})");
  EXPECT_EQ(ok->second, 1500);
  EXPECT_EQ(parse_sample("b +Inf")->second, std::numeric_limits<double>::infinity());
  for (const std::string bad :
       {"", "1abc 2", "a{x=1} 1", "a{x=\"1\"} ", "a{x=\"1\" 1", "a{x=\"\\q\"} 1", "a one"}) {
    EXPECT_FALSE(parse_sample(bad)) << bad;
  }
}

// promtool (Debian's prometheus package) parses and lints the page; returns its output, "" if clean.
std::string promtool_problems(const std::string& dir, const std::string& text) {
  const std::string in = dir + "/metrics.txt";
  const std::string out = dir + "/promtool.out";
  std::ofstream(in) << text;
  const int rc = std::system(fmt::format("promtool check metrics < '{}' > '{}' 2>&1", in, out).c_str());
  const std::string said = read_file(out);
  return rc == 0 ? std::string() : "promtool failed (" + std::to_string(rc) + "): " + said;
}

double sum_of(const std::map<std::string, double>& samples, const std::string& name) {
  double sum = 0;
  for (const auto& [key, value] : samples) {
    if (key == name || key.rfind(name + "{", 0) == 0) sum += value;
  }
  return sum;
}

std::vector<std::uint8_t> png_frame(const std::string& name, std::uint8_t shade) {
  std::vector<std::uint8_t> pixels(28 * 28, shade);
  auto png = vision::encode_png(pixels, 28, 28, 1);
  std::vector<std::uint8_t> out;
  EXPECT_TRUE(wire::append_record(name, *png, out));
  return out;
}

// Polls /metrics until `done` holds for its samples (or 60 s pass); returns the last samples.
template <typename Pred>
std::map<std::string, double> scrape_until(std::uint16_t port, Pred done) {
  std::map<std::string, double> samples;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto reply = http_get(port, "/metrics");
    if (reply.status == 200) {
      samples = parse_exposition(reply.body);
      if (done(samples)) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  return samples;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

bool wait_for_text(const std::string& path, const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_file(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(ObserveEndToEnd, MetricsDuringALiveStreamPassPromtoolAndCountTheFramesSent) {
  SLUICE_REQUIRE_PATH(fashion_images());
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  ASSERT_EQ(std::system("promtool --version > /dev/null 2>&1"), 0)
      << "promtool is missing: scripts/setup.sh installs it (Debian package prometheus)";
  const auto dir = make_temp_dir("metrics");
  const auto port = free_port();
  const auto http_port = free_port();
  // Most options come from a config file: serving from one is part of what is tested.
  write_text(dir + "/serve.yaml", fmt::format("listen: [127.0.0.1:{}]\nmodel: {}\noutput: {}\n"
                                              "batch-interval: 200ms\nblock-interval: 50ms\n",
                                              port, fashion_bundle(), dir + "/results.jsonl"));
  auto serve = ChildProcess::spawn({sluice_binary(), "serve", "--config", dir + "/serve.yaml", "--http",
                                    fmt::format("127.0.0.1:{}", http_port), "--max-rate", "5000"},
                                   "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(http_port, 60s)) << read_file(dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s)) << read_file(dir + "/serve.log");

  // 1. A live stream: 50 frames on a connection that stays open.
  auto live = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(live);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(net::write_all(live->get(), png_frame(fmt::format("live-{}", i), 40)));
  auto mid =
      scrape_until(http_port, [](const auto& s) { return sum_of(s, "sluice_frames_processed_total") >= 50; });
  const auto mid_text = http_get(http_port, "/metrics").body;
  EXPECT_EQ(promtool_problems(dir, mid_text), "");
  EXPECT_EQ(sum_of(mid, "sluice_frames_received_total"), 50);
  EXPECT_EQ(sum_of(mid, "sluice_frames_processed_total"), 50);
  EXPECT_EQ(
      sum_of(mid, fmt::format("sluice_source_open_streams{{source=\"tcp-listen 127.0.0.1:{}\"}}", port)), 1)
      << "scraped while the stream is open";

  // 2. A second stream from `sluice send`, 300 frames, while the first stays open.
  auto send = ChildProcess::spawn({sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port),
                                   "--limit", "300", "--rate", "1000", fashion_images()},
                                  dir + "/send.out", dir + "/send.err");
  ASSERT_EQ(send.wait(120s), 0) << read_file(dir + "/send.err");
  // 3. One frame that is not an image, then the live stream ends.
  const std::vector<std::uint8_t> garbage{'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  std::vector<std::uint8_t> tail;
  ASSERT_TRUE(wire::append_record("garbage", garbage, tail));
  const auto eos = wire::end_of_stream_record();
  tail.insert(tail.end(), eos.begin(), eos.end());
  ASSERT_TRUE(net::write_all(live->get(), tail));
  ASSERT_EQ(wait_for_lines(dir + "/results.jsonl", 351, 120s), 351u);

  // Every batch is complete once the batch history accounts for every frame.
  json all;
  for (int i = 0; i < 600; ++i) {
    all = json::parse(http_get(http_port, "/api/batches?limit=1000").body);
    std::uint64_t records = 0;
    for (const auto& b : all) records += b["records"].get<std::uint64_t>();
    if (records >= 351) break;
    std::this_thread::sleep_for(100ms);
  }
  const auto m = scrape_until(http_port, [](const auto& s) {
    return sum_of(s, "sluice_frames_processed_total") + sum_of(s, "sluice_frames_failed_total") >= 351 &&
           sum_of(s, "sluice_frames_in_flight") == 0;
  });
  const auto text = http_get(http_port, "/metrics");
  EXPECT_EQ(promtool_problems(dir, text.body), "");
  EXPECT_NE(text.headers.find("text/plain; version=0.0.4"), std::string::npos) << text.headers;
  const std::string source = fmt::format("source=\"tcp-listen 127.0.0.1:{}\"", port);
  EXPECT_EQ(m.at(fmt::format("sluice_frames_received_total{{{}}}", source)), 351)
      << "50 + 300 + 1 frames sent";
  EXPECT_EQ(sum_of(m, "sluice_frames_received_total"), 351);
  EXPECT_EQ(m.at("sluice_frames_processed_total"), 350);
  EXPECT_EQ(m.at("sluice_frames_failed_total{reason=\"decode\"}"), 1);
  EXPECT_EQ(sum_of(m, "sluice_frames_failed_total"), 1);
  EXPECT_EQ(m.at("sluice_frames_in_flight"), 0);
  EXPECT_GT(m.at(fmt::format("sluice_received_bytes_total{{{}}}", source)), 350 * 100);
  EXPECT_EQ(m.at("sluice_frame_latency_seconds_count"), 351);
  EXPECT_EQ(m.at(fmt::format("sluice_source_state{{{},state=\"running\"}}", source)), 1);
  EXPECT_EQ(m.at(fmt::format("sluice_source_state{{{},state=\"failed\"}}", source)), 0);
  EXPECT_EQ(m.at("sluice_build_info{version=\"0.1.0\"}"), 1);
  EXPECT_GT(m.at("process_resident_memory_bytes"), 1 << 20);
  EXPECT_EQ(m.at("sluice_batch_interval_seconds"), 0.2);
  EXPECT_EQ(m.at("sluice_block_store_bytes"), 0);
  EXPECT_EQ(m.at("sluice_memory_budget_held_bytes"), 0);
  EXPECT_EQ(m.at(fmt::format("sluice_rate_controller_rate_frames_per_second{{{}}}", source)), 5000)
      << "--max-rate holds the source to 5000 frames/s";
  const double batches = m.at("sluice_batches_completed_total");
  EXPECT_GE(batches, 1);
  for (const std::string h : {"sluice_batch_processing_time_seconds", "sluice_batch_scheduling_delay_seconds",
                              "sluice_batch_total_delay_seconds", "sluice_inference_time_seconds",
                              "sluice_frame_latency_seconds"}) {
    EXPECT_EQ(m.at(h + "_bucket{le=\"+Inf\"}"), m.at(h + "_count")) << h;
    EXPECT_GE(m.at(h + "_sum"), 0) << h;
  }
  EXPECT_EQ(m.at("sluice_batch_processing_time_seconds_count"), batches) << "one observation per batch";
  EXPECT_GE(m.at("sluice_inference_time_seconds_count"), 1);

  // The JSON API agrees, and the batches add up to every frame.
  const auto status = json::parse(http_get(http_port, "/api/status").body);
  EXPECT_EQ(status["frames"]["received"], 351);
  EXPECT_EQ(status["frames"]["failed"], 1);
  EXPECT_EQ(status["failures"]["decode"], 1);
  EXPECT_EQ(status["config"]["batch_interval_ms"], 200);
  ASSERT_EQ(status["sources"].size(), 1u);
  EXPECT_EQ(status["sources"][0]["state"], "running");
  EXPECT_EQ(status["sources"][0]["frames"], 351);
  EXPECT_FALSE(status["top_labels"].empty());
  std::uint64_t records = 0;
  std::set<std::uint64_t> ids;
  for (const auto& b : all) {
    records += b["records"].get<std::uint64_t>();
    ids.insert(b["id"].get<std::uint64_t>());
    EXPECT_GE(b["processing_time_ms"].get<double>(), 0.0);
    EXPECT_GE(b["total_delay_ms"].get<double>(), b["processing_time_ms"].get<double>());
  }
  EXPECT_EQ(records, 351u);
  EXPECT_EQ(ids.size(), all.size());
  EXPECT_EQ(static_cast<double>(all.size()), batches);

  live->reset();
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0) << read_file(dir + "/serve.log");
  EXPECT_NE(read_file(dir + "/serve.log").find(fmt::format("http://127.0.0.1:{}/", http_port)),
            std::string::npos);
}

TEST(ObserveEndToEnd, HttpServesTheDashboardItsFilesAndRejectsBadRequests) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("http");
  const auto http_port = free_port();
  // A bare port binds loopback.
  auto serve =
      ChildProcess::spawn({sluice_binary(), "serve", "--listen", "127.0.0.1:0", "--model", fashion_bundle(),
                           "--output", dir + "/out.jsonl", "--http", std::to_string(http_port)},
                          "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(http_port, 60s)) << read_file(dir + "/serve.log");
  const auto page = http_get(http_port, "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.headers.find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("<script src=\"/uPlot.iife.min.js\">"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << "no file from a CDN";
  const auto uplot = http_get(http_port, "/uPlot.iife.min.js");
  ASSERT_EQ(uplot.status, 200);
  EXPECT_EQ(uplot.body.rfind("/*! https://github.com/leeoniya/uPlot", 0), 0u);
  EXPECT_GT(uplot.body.size(), 20000u);
  EXPECT_EQ(http_get(http_port, "/dashboard.js").status, 200);
  EXPECT_EQ(http_get(http_port, "/dashboard.css").status, 200);
  EXPECT_EQ(http_get(http_port, "/uPlot.min.css").status, 200);
  EXPECT_EQ(http_get(http_port, "/index.html").body, page.body);
  EXPECT_EQ(http_get(http_port, "/no-such-page").status, 404);
  EXPECT_EQ(http_get(http_port, "/api/batches?limit=abc").status, 400);
  EXPECT_EQ(http_get(http_port, "/api/batches?limit=0").status, 400);
  EXPECT_EQ(http_get(http_port, "/api/batches?limit=-3").status, 400);
  const auto empty = http_get(http_port, "/api/batches?limit=5");
  ASSERT_EQ(empty.status, 200);
  EXPECT_TRUE(json::parse(empty.body).is_array());
  const auto status = json::parse(http_get(http_port, "/api/status").body);
  EXPECT_EQ(status["frames"]["received"], 0);
  EXPECT_TRUE(status["stable"].is_null() || status["stable"].is_boolean());
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  const auto log = read_file(dir + "/serve.log");
  EXPECT_NE(log.find(fmt::format("http://127.0.0.1:{}/", http_port)), std::string::npos) << log;
  EXPECT_EQ(log.find("reachable from other machines"), std::string::npos) << "loopback needs no warning";
}

TEST(ObserveEndToEnd, ABadHttpAddressFailsFast) {
  const auto dir = make_temp_dir("badhttp");
  auto serve = ChildProcess::spawn({sluice_binary(), "serve", "--listen", "127.0.0.1:0", "--model",
                                    fashion_bundle(), "--http", "127.0.0.1:99999"},
                                   "", dir + "/err");
  EXPECT_EQ(serve.wait(60s), 2);
  EXPECT_NE(read_file(dir + "/err").find("--http"), std::string::npos) << read_file(dir + "/err");
}

SluiceRun run_sluice(const std::string& dir, std::vector<std::string> args) {
  return test::run_sluice(dir, std::move(args), 60s);
}

std::string value_of(const std::string& yaml_text, const std::string& key) {
  const auto node = YAML::Load(yaml_text)[key];
  if (!node || node.IsNull()) return "null";
  if (node.IsSequence()) {
    std::string out;
    for (const auto& item : node) out += (out.empty() ? "" : ",") + item.as<std::string>();
    return "[" + out + "]";
  }
  return node.as<std::string>();
}

TEST(ConfigFiles, YamlRoundTripsThroughTheEffectiveConfiguration) {
  const auto dir = make_temp_dir("config");
  write_text(dir + "/serve.yaml",
             "# comments are fine\n"
             "listen: [127.0.0.1:9001, 127.0.0.1:9002]\n"
             "model: /models/fashion\n"
             "batch-interval: 2s\n"
             "top-k: 3\n"
             "quiet: true\n"
             "http: 127.0.0.1:8080\n"
             "labels: null   # null leaves the default\n");
  const auto first = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/serve.yaml"});
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(value_of(first.out, "listen"), "[127.0.0.1:9001,127.0.0.1:9002]");
  EXPECT_EQ(value_of(first.out, "model"), "/models/fashion");
  EXPECT_EQ(value_of(first.out, "batch-interval"), "2s");
  EXPECT_EQ(value_of(first.out, "top-k"), "3");
  EXPECT_EQ(value_of(first.out, "quiet"), "true");
  EXPECT_EQ(value_of(first.out, "http"), "127.0.0.1:8080");
  EXPECT_EQ(value_of(first.out, "labels"), "null");
  // Its default follows the batch interval (the smaller of 200ms and it): left at null.
  EXPECT_EQ(value_of(first.out, "block-interval"), "null");
  EXPECT_EQ(value_of(first.out, "max-batch"), "64");
  EXPECT_EQ(value_of(first.out, "connect"), "[]");
  EXPECT_NE(first.out.find("# Batch interval"), std::string::npos) << "each key carries its help";

  // The effective configuration is itself a config file that gives the same configuration.
  write_text(dir + "/effective.yaml", first.out);
  const auto second = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/effective.yaml"});
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
  // --print-config on the command itself says the same.
  const auto direct = run_sluice(dir, {"serve", "--config", dir + "/serve.yaml", "--print-config"});
  ASSERT_EQ(direct.code, 0) << direct.err;
  EXPECT_EQ(direct.out, first.out);
}

TEST(ConfigFiles, CommandLineOptionsWinOverTheFile) {
  const auto dir = make_temp_dir("override");
  write_text(dir + "/serve.yaml", "listen: [127.0.0.1:9001]\nmodel: m\nbatch-interval: 2s\ntop-k: 3\n");
  const auto r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/serve.yaml",
                                  "--batch-interval", "500ms", "--listen", "127.0.0.1:7000", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(value_of(r.out, "batch-interval"), "500ms");
  EXPECT_EQ(value_of(r.out, "listen"), "[127.0.0.1:7000]")
      << "a list on the command line replaces the file's";
  EXPECT_EQ(value_of(r.out, "top-k"), "3");
  EXPECT_EQ(value_of(r.out, "quiet"), "true");
}

TEST(ConfigFiles, TomlGivesTheSameEffectiveConfigurationAsYaml) {
  const auto dir = make_temp_dir("toml");
  write_text(dir + "/send.yaml", "paths: [a.png, b.png]\nto: 127.0.0.1:9999\nrate: 250.5\nconnections: 4\n");
  write_text(dir + "/send.toml",
             "# the same in TOML\npaths = [\"a.png\", \"b.png\"]\nto = \"127.0.0.1:9999\"\nrate = 250.5\n"
             "connections = 4\n");
  const auto yaml = run_sluice(dir, {"config", "--print", "send", "--config", dir + "/send.yaml"});
  const auto toml = run_sluice(dir, {"config", "--print", "send", "--config", dir + "/send.toml"});
  ASSERT_EQ(yaml.code, 0) << yaml.err;
  ASSERT_EQ(toml.code, 0) << toml.err;
  EXPECT_EQ(toml.out, yaml.out);
  EXPECT_EQ(value_of(toml.out, "rate"), "250.5");
  EXPECT_EQ(value_of(toml.out, "paths"), "[a.png,b.png]");
}

TEST(ConfigFiles, AnUnknownKeyNamesTheKeyAndItsLine) {
  const auto dir = make_temp_dir("unknown");
  write_text(dir + "/serve.yaml", "listen: [127.0.0.1:9001]\nmodel: m\n\nbatch_interval: 2s\n");
  auto r = run_sluice(dir, {"serve", "--config", dir + "/serve.yaml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(dir + "/serve.yaml:4: unknown key 'batch_interval'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'batch-interval'?"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("serving"), std::string::npos) << "nothing started";

  write_text(dir + "/serve.toml", "model = \"m\"\nlisten = [\"127.0.0.1:1\"]\n\n\nframes-per-second = 5\n");
  r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/serve.toml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(dir + "/serve.toml:5: unknown key 'frames-per-second' for sluice serve"),
            std::string::npos)
      << r.err;
  // A key of another command is unknown to this one.
  write_text(dir + "/send.yaml", "paths: [a.png]\nrate: 5\nmodel: m\n");
  r = run_sluice(dir, {"config", "--print", "send", "--config", dir + "/send.yaml"});
  EXPECT_NE(r.err.find("send.yaml:3: unknown key 'model' for sluice send"), std::string::npos) << r.err;
}

TEST(ConfigFiles, MalformedFilesAreErrorsWithALine) {
  const auto dir = make_temp_dir("malformed");
  write_text(dir + "/nested.yaml", "model: m\nlisten:\n  host: 127.0.0.1\n");
  auto r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/nested.yaml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("nested.yaml:2: 'listen' holds a nested mapping"), std::string::npos) << r.err;
  write_text(dir + "/twice.yaml", "model: m\ntop-k: 3\ntop-k: 4\n");
  r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/twice.yaml"});
  EXPECT_NE(r.err.find("twice.yaml:3: 'top-k' is given twice (first on line 2)"), std::string::npos) << r.err;
  write_text(dir + "/broken.yaml", "model: m\nlisten: [127.0.0.1:1\n");
  r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/broken.yaml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("broken.yaml:"), std::string::npos) << r.err;
  write_text(dir + "/list.yaml", "model: m\ntop-k: [1, 2]\n");
  r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/list.yaml"});
  EXPECT_NE(r.err.find("list.yaml:2: 'top-k' takes one value"), std::string::npos) << r.err;
  write_text(dir + "/broken.toml", "model = \"m\"\ntop-k = = 3\n");
  r = run_sluice(dir, {"config", "--print", "serve", "--config", dir + "/broken.toml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("broken.toml:2"), std::string::npos) << r.err;
  r = run_sluice(dir, {"serve", "--config", dir + "/missing.yaml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
  r = run_sluice(dir, {"config", "--print"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("name the command"), std::string::npos) << r.err;
}

// The subcommands `sluice WORDS --help` lists (none for a leaf command).
std::vector<std::string> subcommands(const std::string& dir, const std::vector<std::string>& words) {
  auto args = words;
  args.push_back("--help");
  args.insert(args.begin(), sluice_binary());
  auto child = ChildProcess::spawn(args, dir + "/help.out", "");
  EXPECT_EQ(child.wait(60s), 0);
  std::vector<std::string> names;
  std::istringstream in(read_file(dir + "/help.out"));
  bool listing = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "Subcommands:") {
      listing = true;
    } else if (listing && line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ') {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (listing && line.empty()) {
      listing = false;
    }
  }
  return names;
}

TEST(ConfigFiles, EveryCommandHasAValidExampleConfig) {
  const std::filesystem::path examples = std::filesystem::path(SLUICE_SOURCE_DIR) / "examples" / "config";
  const auto dir = make_temp_dir("example");
  // Every leaf command: serve, send, ..., and "bench backend" as bench-backend.{yaml,toml}.
  std::vector<std::vector<std::string>> pending{{}};
  std::vector<std::vector<std::string>> leaves;
  while (!pending.empty()) {
    const auto words = pending.back();
    pending.pop_back();
    const auto children = subcommands(dir, words);
    if (children.empty() && !words.empty()) leaves.push_back(words);
    for (const auto& child : children) {
      if (words.empty() && child == "config") continue;  // it prints the others' configuration
      auto next = words;
      next.push_back(child);
      pending.push_back(next);
    }
  }
  ASSERT_GE(leaves.size(), 5u);
  for (const auto& words : leaves) {
    std::string stem;
    for (const auto& w : words) stem += (stem.empty() ? "" : "-") + w;
    std::filesystem::path file = examples / (stem + ".yaml");
    if (!std::filesystem::exists(file)) file = examples / (stem + ".toml");
    if (!std::filesystem::exists(file)) {
      ADD_FAILURE() << "examples/config has no " << stem << ".yaml or " << stem << ".toml";
      continue;
    }
    std::vector<std::string> args{"config", "--print"};
    args.insert(args.end(), words.begin(), words.end());
    args.insert(args.end(), {"--config", file.string()});
    const auto r = run_sluice(dir, args);
    EXPECT_EQ(r.code, 0) << file << ": " << r.err;
  }
}

TEST(Help, EveryOptionExplainsItselfAndTheConfigFile) {
  const auto dir = make_temp_dir("help");
  for (const auto& command : {std::vector<std::string>{"serve"}, {"send"}, {"demo"}, {"bench", "backend"}}) {
    auto args = command;
    args.push_back("--help");
    const auto r = run_sluice(dir, args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("--config FILE"), std::string::npos) << r.out;
    // Every option line has a description after its name (CLI11 puts it on the same or next line).
    std::istringstream in(r.out);
    std::string previous;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("  -", 0) == 0) {
        const auto gap = line.find("  ", 2);
        const bool described =
            gap != std::string::npos && line.find_first_not_of(' ', gap) != std::string::npos;
        if (!described) {
          std::string next;
          std::getline(in, next);
          EXPECT_FALSE(next.empty()) << "no description: " << line;
        }
      }
    }
  }
  const auto serve = run_sluice(dir, {"serve", "--help"});
  EXPECT_NE(serve.out.find("--batch-interval TEXT=1s"), std::string::npos) << "defaults are shown";
  EXPECT_NE(serve.out.find("--http"), std::string::npos);
  const auto root = run_sluice(dir, {"--help"});
  EXPECT_NE(root.out.find("--print-config"), std::string::npos);
  EXPECT_NE(root.out.find("config"), std::string::npos);
}

TEST(Terminal, PlainProgressLogLinesWhenStderrIsAFile) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("progress");
  const auto port = free_port();
  auto serve = ChildProcess::spawn({sluice_binary(), "serve", "--listen", fmt::format("127.0.0.1:{}", port),
                                    "--model", fashion_bundle(), "--output", dir + "/out.jsonl"},
                                   "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s));
  auto conn = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(conn);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net::write_all(conn->get(), png_frame(fmt::format("f{}", i), 90)));
  ASSERT_EQ(wait_for_lines(dir + "/out.jsonl", 20, 60s), 20u);
  // The progress line comes every 10 s while frames flow.
  EXPECT_TRUE(wait_for_text(dir + "/serve.log", "progress: ", 30s)) << read_file(dir + "/serve.log");
  conn->reset();
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  const auto log = read_file(dir + "/serve.log");
  EXPECT_NE(log.find("frames/s | p99"), std::string::npos) << log;
  EXPECT_EQ(log.find("\x1b[K"), std::string::npos) << "no terminal control codes in a file";
}

TEST(Terminal, OneLiveStatusLineOnATerminal) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  ASSERT_EQ(std::system("command -v script > /dev/null"), 0)
      << "script (util-linux) runs sluice on a terminal";
  const auto dir = make_temp_dir("tty");
  const auto port = free_port();
  // script(1) gives sluice a pseudo-terminal; timeout(1) stops it with SIGINT after 6 s.
  const std::string inner =
      fmt::format("timeout --preserve-status -s INT 6 {} serve --listen 127.0.0.1:{} --model {} --output {}",
                  sluice_binary(), port, fashion_bundle(), dir + "/out.jsonl");
  auto term = ChildProcess::spawn({"/usr/bin/script", "-qfec", inner, "/dev/null"}, dir + "/tty.out", "");
  ASSERT_TRUE(wait_for_port(port, 60s));
  auto conn = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(conn);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net::write_all(conn->get(), png_frame(fmt::format("f{}", i), 90)));
  EXPECT_EQ(term.wait(60s), 0);
  const auto screen = read_file(dir + "/tty.out");
  EXPECT_NE(screen.find("\r\x1b[Ksluice: "), std::string::npos) << screen;
  EXPECT_NE(screen.find("frames/s | p99"), std::string::npos) << screen;
  EXPECT_NE(screen.find("queue"), std::string::npos);
  EXPECT_NE(screen.find("errors"), std::string::npos);
  EXPECT_EQ(screen.find("progress: "), std::string::npos) << "a terminal gets the status line, not log lines";
}

TEST(Terminal, QuietKeepsErrorsOnly) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("quiet");
  const auto port = free_port();
  auto serve =
      ChildProcess::spawn({sluice_binary(), "serve", "--quiet", "--listen", fmt::format("127.0.0.1:{}", port),
                           "--model", fashion_bundle(), "--output", dir + "/out.jsonl"},
                          "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s));
  {
    auto conn = net::connect_tcp({"127.0.0.1", port}, 5000ms);
    ASSERT_TRUE(conn);
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(net::write_all(conn->get(), png_frame(fmt::format("f{}", i), 90)));
    ASSERT_EQ(wait_for_lines(dir + "/out.jsonl", 5, 60s), 5u);
  }
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  const auto log = read_file(dir + "/serve.log");
  EXPECT_EQ(log.find(" info "), std::string::npos) << log;
  EXPECT_EQ(log.find("progress"), std::string::npos) << log;
  EXPECT_EQ(log.find("batch "), std::string::npos) << log;
}

}  // namespace
}  // namespace sluice::test
