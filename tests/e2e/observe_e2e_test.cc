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
#include "support/http_client.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/wait.h"
#include "support/wire_records.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

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

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(ObserveEndToEnd, MetricsDuringALiveStreamPassPromtoolAndCountTheFramesSent) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle(), "/usr/bin/promtool");
  const auto dir = make_temp_dir("metrics");
  const auto port = free_port();
  // Most options come from a config file: serving from one is part of what is tested.
  write_text(dir + "/serve.yaml", fmt::format("listen: [127.0.0.1:{}]\nmodel: {}\noutput: {}\n"
                                              "batch-interval: 200ms\nblock-interval: 50ms\n",
                                              port, fashion_bundle(), dir + "/results.jsonl"));
  ServeProcess serve({.dir = dir,
                      .args = {"--config", dir + "/serve.yaml", "--max-rate", "5000"},
                      .listen = false,
                      .port = port,
                      .http = true,
                      .model = "",
                      .output = false,
                      .batch_interval = "",
                      .block_interval = ""});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const auto http_port = serve.http_port();

  // 1. A live stream: 50 frames on a connection that stays open.
  auto live = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(live);
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(net::write_all(live->get(), make_frame(fmt::format("live-{}", i), 40)));
  auto mid =
      serve.wait_for_metrics([](const auto& s) { return sum_of(s, "sluice_frames_processed_total") >= 50; });
  EXPECT_EQ(promtool_problems(dir, serve.get("/metrics").body), "");
  EXPECT_EQ(sum_of(mid, "sluice_frames_received_total"), 50);
  EXPECT_EQ(sum_of(mid, "sluice_frames_processed_total"), 50);
  EXPECT_EQ(
      sum_of(mid, fmt::format("sluice_source_open_streams{{source=\"tcp-listen 127.0.0.1:{}\"}}", port)), 1)
      << "scraped while the stream is open";

  // 2. A second stream from `sluice send`, 300 frames, while the first stays open.
  auto send = spawn_send(dir, port, {"--limit", "300", "--rate", "1000", fashion_images()});
  ASSERT_EQ(send.wait(120s), 0) << read_file(dir + "/send.err");
  // 3. One frame that is not an image, then the live stream ends.
  const std::string garbage = "not an image";
  ASSERT_TRUE(net::write_all(
      live->get(),
      concat({wire_record("garbage", {reinterpret_cast<const std::uint8_t*>(garbage.data()), garbage.size()}),
              end_of_stream()})));
  ASSERT_EQ(serve.wait_for_lines(351, 120s), 351u);

  // Every batch is complete once the batch history accounts for every frame.
  json all;
  eventually(
      [&] {
        all = json::parse(http_get(http_port, "/api/batches?limit=1000").body);
        std::uint64_t records = 0;
        for (const auto& b : all) records += b["records"].get<std::uint64_t>();
        return records >= 351;
      },
      60s, 100ms);
  const auto m = serve.wait_for_metrics([](const auto& s) {
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
  // One version everywhere: `sluice --version`, /metrics and /api/status (which the dashboard shows).
  const auto version_run = run_sluice(dir, {"--version"});
  ASSERT_EQ(version_run.code, 0) << version_run.err;
  const std::string version = version_run.out.substr(
      version_run.out.find(' ') + 1, version_run.out.find_first_of("\r\n") - version_run.out.find(' ') - 1);
  EXPECT_EQ(version, "0.1.0") << version_run.out;
  EXPECT_EQ(m.at(fmt::format("sluice_build_info{{version=\"{}\"}}", version)), 1);
  EXPECT_EQ(json::parse(http_get(http_port, "/api/status").body).at("version"), version);
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
  const auto status = serve.status();
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
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  // The log is where an operator finds the dashboard's address.
  EXPECT_NE(serve.log().find(fmt::format("http://127.0.0.1:{}/", http_port)), std::string::npos);
}

TEST(ObserveEndToEnd, HttpServesTheDashboardItsFilesAndRejectsBadRequests) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  const auto http_port = free_port();
  // A bare port binds loopback (so --http is given here, not by the fixture, which ready() then
  // watches as its port).
  ServeProcess serve({.tag = "http",
                      .args = {"--listen", "127.0.0.1:0", "--http", std::to_string(http_port)},
                      .listen = false,
                      .port = http_port});
  ASSERT_TRUE(serve.ready()) << serve.log();
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
  ASSERT_EQ(serve.stop(), 0);
  // The log is the interface here: where the dashboard is, and no warning for loopback.
  const auto log = serve.log();
  EXPECT_NE(log.find(fmt::format("http://127.0.0.1:{}/", http_port)), std::string::npos) << log;
  EXPECT_EQ(log.find("reachable from other machines"), std::string::npos) << "loopback needs no warning";
}

TEST(ObserveEndToEnd, ABadHttpAddressFailsFast) {
  ServeProcess serve({.tag = "badhttp", .args = {"--http", "127.0.0.1:99999"}});
  EXPECT_FALSE(serve.ready());
  EXPECT_EQ(serve.wait(60s), 2);
  EXPECT_NE(serve.log().find("--http"), std::string::npos) << serve.log();
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
  // 0: derived from the model's input size when it loads (64 for small inputs, 8 for large).
  EXPECT_EQ(value_of(first.out, "max-batch"), "0");
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

// The log is the interface here: what an operator sees on a terminal or in a log file.
TEST(Terminal, PlainProgressLogLinesWhenStderrIsAFile) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "progress", .batch_interval = "", .block_interval = ""});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto conn = net::connect_tcp({"127.0.0.1", serve.port()}, 5000ms);
  ASSERT_TRUE(conn);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(net::write_all(conn->get(), make_frame(fmt::format("f{}", i), 90)));
  ASSERT_EQ(serve.wait_for_lines(20, 60s), 20u);
  // The progress line comes every 10 s while frames flow.
  EXPECT_TRUE(serve.wait_for_log("progress: ", 30s)) << serve.log();
  conn->reset();
  ASSERT_EQ(serve.stop(), 0);
  const auto log = serve.log();
  EXPECT_NE(log.find("frames/s | p99"), std::string::npos) << log;
  EXPECT_EQ(log.find("\x1b[K"), std::string::npos) << "no terminal control codes in a file";
}

TEST(Terminal, OneLiveStatusLineOnATerminal) {
  SLUICE_REQUIRE_SETUP(fashion_bundle(), "/usr/bin/script", "/usr/bin/timeout");
  // On a pseudo-terminal (script(1)), stopped by SIGINT after 6 s: log() is the screen.
  ServeProcess serve({.tag = "tty", .batch_interval = "", .block_interval = "", .terminal = 6s});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto conn = net::connect_tcp({"127.0.0.1", serve.port()}, 5000ms);
  ASSERT_TRUE(conn);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(net::write_all(conn->get(), make_frame(fmt::format("f{}", i), 90)));
  EXPECT_EQ(serve.wait(60s), 0);
  const auto screen = serve.log();
  EXPECT_NE(screen.find("\r\x1b[Ksluice: "), std::string::npos) << screen;
  EXPECT_NE(screen.find("frames/s | p99"), std::string::npos) << screen;
  EXPECT_NE(screen.find("queue"), std::string::npos);
  EXPECT_NE(screen.find("errors"), std::string::npos);
  EXPECT_EQ(screen.find("progress: "), std::string::npos) << "a terminal gets the status line, not log lines";
}

TEST(Terminal, QuietKeepsErrorsOnly) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "quiet", .args = {"--quiet"}, .batch_interval = "", .block_interval = ""});
  ASSERT_TRUE(serve.ready()) << serve.log();
  ASSERT_TRUE(
      send_and_close(serve.port(), concat({make_frame("f0", 90), make_frame("f1", 90), make_frame("f2", 90),
                                           make_frame("f3", 90), make_frame("f4", 90)})));
  ASSERT_EQ(serve.wait_for_lines(5, 60s), 5u);
  ASSERT_EQ(serve.stop(), 0);
  const auto log = serve.log();
  EXPECT_EQ(log.find(" info "), std::string::npos) << log;
  EXPECT_EQ(log.find("progress"), std::string::npos) << log;
  EXPECT_EQ(log.find("batch "), std::string::npos) << log;
}

}  // namespace
}  // namespace sluice::test
