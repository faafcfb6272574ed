// Unit tests of the observability pieces: histograms, the exposition format, label and rate
// windows, the batch history, and the --http address rules.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "http/http_server.h"
#include "monitor/batch_history.h"
#include "monitor/result_observer.h"
#include "observe/histogram.h"
#include "observe/histogram_window.h"
#include "observe/label_window.h"
#include "observe/pipeline_metrics.h"
#include "observe/process_memory.h"
#include "observe/prometheus_text.h"
#include "observe/rate_window.h"

namespace sluice::observe {
namespace {
using namespace std::chrono_literals;

TEST(Histogram, BucketsAreLessOrEqualAndTheCountIsTheirSum) {
  Histogram h({1.0, 2.0, 5.0});
  for (const double v : {0.5, 1.0, 1.5, 2.0, 4.0, 7.0}) h.observe(v);
  const auto s = h.snapshot();
  ASSERT_EQ(s.counts.size(), 4u);
  EXPECT_EQ(s.counts[0], 2u);  // 0.5 and 1.0 (le="1")
  EXPECT_EQ(s.counts[1], 2u);  // 1.5 and 2.0
  EXPECT_EQ(s.counts[2], 1u);  // 4.0
  EXPECT_EQ(s.counts[3], 1u);  // 7.0 in +Inf
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 16.0);
}

TEST(Histogram, QuantilesInterpolateInsideTheBucket) {
  Histogram h({10.0, 20.0});
  for (int i = 0; i < 100; ++i) h.observe(15.0);  // all in (10, 20]
  const auto s = h.snapshot();
  EXPECT_DOUBLE_EQ(s.quantile(0.5), 15.0);
  EXPECT_DOUBLE_EQ(s.quantile(1.0), 20.0);
  EXPECT_DOUBLE_EQ(Histogram({1.0}).snapshot().quantile(0.99), 0.0) << "empty";
  Histogram over({1.0});
  over.observe(100.0);
  EXPECT_DOUBLE_EQ(over.snapshot().quantile(0.99), 1.0) << "+Inf bucket answers the last bound";
}

TEST(Histogram, SinceSubtractsAnEarlierSnapshot) {
  Histogram h({1.0, 2.0});
  h.observe(0.5);
  const auto before = h.snapshot();
  h.observe(1.5);
  h.observe(1.5);
  const auto d = h.snapshot().since(before);
  EXPECT_EQ(d.count, 2u);
  EXPECT_EQ(d.counts[0], 0u);
  EXPECT_EQ(d.counts[1], 2u);
  EXPECT_DOUBLE_EQ(d.sum, 3.0);
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(0.001 * (i % 50));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.snapshot().count, 40000u);
}

TEST(HistogramWindow, ReportsOnlyWhatHappenedInsideTheWindow) {
  Histogram h({1.0});
  HistogramWindow w(h, 10s);
  const Clock::time_point t0{};
  h.observe(0.5);
  EXPECT_EQ(w.recent(t0).count, 0u) << "the first sample is the baseline";
  h.observe(0.5);
  EXPECT_EQ(w.recent(t0 + 2s).count, 1u);
  h.observe(0.5);
  EXPECT_EQ(w.recent(t0 + 4s).count, 2u);
  EXPECT_EQ(w.recent(t0 + 13s).count, 1u) << "samples older than the window are dropped";
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(PrometheusText::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(PrometheusText::escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
  EXPECT_EQ(PrometheusText::format_value(3), "3");
  EXPECT_EQ(PrometheusText::format_value(0.25), "0.25");
  EXPECT_EQ(PrometheusText::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(PrometheusText::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(PrometheusText::format_value(std::nan("")), "NaN");
}

TEST(PrometheusText, WritesFamiliesSamplesAndCumulativeHistograms) {
  PrometheusText out;
  out.family("x_total", "counter", "Things.");
  out.sample("x_total", {{"source", "tcp-listen 127.0.0.1:1"}}, 7);
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  out.histogram("y_seconds", "Times.", h.snapshot());
  EXPECT_EQ(out.text(),
            "# HELP x_total Things.\n"
            "# TYPE x_total counter\n"
            "x_total{source=\"tcp-listen 127.0.0.1:1\"} 7\n"
            "# HELP y_seconds Times.\n"
            "# TYPE y_seconds histogram\n"
            "y_seconds_bucket{le=\"0.1\"} 1\n"
            "y_seconds_bucket{le=\"1\"} 2\n"
            "y_seconds_bucket{le=\"+Inf\"} 3\n"
            "y_seconds_sum 5.55\n"
            "y_seconds_count 3\n");
}

TEST(LabelWindow, CountsTheLastMinuteMostFrequentFirst) {
  LabelWindow w;
  const Clock::time_point t0{std::chrono::hours(1)};
  for (int i = 0; i < 3; ++i) w.add(1, "Trouser", t0);
  w.add(2, "Bag", t0 + 1s);
  w.add(7, "", t0 + 2s);
  auto top = w.top(10, t0 + 2s);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].label, "Trouser");
  EXPECT_EQ(top[0].count, 3u);
  EXPECT_EQ(top[2].label, "class 7") << "a class without a label is named by its index";
  EXPECT_EQ(w.top(1, t0 + 2s).size(), 1u);
  // The window is the 60 seconds up to now: at t0+60s the Trouser second has left it, and at
  // t0+62s every second seen.
  top = w.top(10, t0 + 60s);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].label, "Bag");
  EXPECT_TRUE(w.top(10, t0 + 62s).empty());
  // A second's slot is reused a minute later, without the old minute's counts.
  w.add(2, "Bag", t0 + 61s);
  top = w.top(10, t0 + 61s);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top.front().label, "Bag");
  EXPECT_EQ(top.front().count, 1u) << "the Bag of t0+1s shared the slot and is gone";
}

TEST(RateWindow, MeasuresTheRecentRate) {
  RateWindow r(5s, 200ms);
  const Clock::time_point t0{};
  r.sample(t0, 0);
  EXPECT_EQ(r.per_second(), 0.0);
  r.sample(t0 + 1s, 100);
  EXPECT_DOUBLE_EQ(r.per_second(), 100.0);
  r.sample(t0 + 1s + 50ms, 5000);  // closer than the spacing: ignored
  EXPECT_DOUBLE_EQ(r.per_second(), 100.0);
  for (int s = 2; s <= 20; ++s) r.sample(t0 + std::chrono::seconds(s), 100);  // then nothing arrives
  EXPECT_DOUBLE_EQ(r.per_second(), 0.0) << "the burst has left the window";
}

TEST(BatchHistory, KeepsTheLatestBatchesAndObservesTheirTimes) {
  monitor::BatchHistory history(3);
  for (std::uint64_t id = 1; id <= 5; ++id) {
    engine::BatchInfo info;
    info.id = id;
    info.batch_time = Clock::now();
    info.records = id * 10;
    info.processing_time = std::chrono::milliseconds(20);
    history.on_batch_completed(info);
  }
  const auto latest = history.latest(10);
  ASSERT_EQ(latest.size(), 3u);
  EXPECT_EQ(latest.front().info.id, 3u);
  EXPECT_EQ(latest.back().info.id, 5u);
  EXPECT_EQ(history.latest(1).front().info.id, 5u);
  EXPECT_EQ(history.processing_time().snapshot().count, 5u);
  EXPECT_NEAR(history.processing_time().snapshot().sum, 0.1, 1e-9);
  const auto age = std::chrono::system_clock::now() - latest.back().wall_time;
  EXPECT_LT(age, std::chrono::minutes(1)) << "wall time is now-ish";
}

TEST(ResultObserver, ObservesLatencyAndTopLabelsOfLinesWrittenOnly) {
  monitor::ResultObserver observer;
  std::vector<sink::ResultRecord> records(4);
  records[0].latency_ms = 10;
  records[0].top.push_back({4, "Coat", 0.9f});
  records[1].latency_ms = 20;
  records[1].error_code = Code::kDecode;
  records[1].error = "decode: payload of 12 bytes is neither JPEG nor PNG";
  records[2].latency_ms = 30;
  records[2].top.push_back({5, "Sandal", 0.8f});
  records[3].latency_ms = 40;
  records[3].top.push_back({5, "Sandal", 0.8f});
  records[3].duplicate = true;  // no line was written for it
  observer.on_results(records);
  EXPECT_EQ(observer.latency().snapshot().count, 3u);
  const auto labels = observer.top_labels(5);
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[0].count + labels[1].count, 2u);
}

TEST(PipelineMetrics, CountsErrorLinesByTheirCode) {
  PipelineMetrics metrics;
  metrics.count_error_line(Code::kDecode);
  metrics.count_error_line(Code::kDecode);
  metrics.count_error_line(Code::kLimit);
  const auto by_reason = metrics.error_lines_by_reason();
  EXPECT_EQ(by_reason.at("decode"), 2u);
  EXPECT_EQ(by_reason.at("limit"), 1u);
  EXPECT_EQ(by_reason.count("model"), 0u);
}

TEST(ProcessMemory, ReadsAPlausibleResidentSize) {
  const auto rss = resident_memory_bytes();
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 1u << 20);
}

TEST(HttpEndpoint, ABarePortBindsLoopback) {
  auto ep = http::parse_http_endpoint("8080");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 8080);
  ep = http::parse_http_endpoint(":9090");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "127.0.0.1");
  ep = http::parse_http_endpoint("0.0.0.0:80");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "0.0.0.0");
  EXPECT_FALSE(http::parse_http_endpoint("127.0.0.1:99999"));
  EXPECT_FALSE(http::parse_http_endpoint("web"));
  EXPECT_FALSE(http::parse_http_endpoint(""));
}

TEST(HttpEndpoint, OnlyLoopbackAddressesCountAsLoopback) {
  EXPECT_TRUE(http::is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(http::is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(http::is_loopback_host("::1"));
  EXPECT_TRUE(http::is_loopback_host("localhost"));
  EXPECT_FALSE(http::is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(http::is_loopback_host("::"));
  EXPECT_FALSE(http::is_loopback_host("192.168.1.10"));
  EXPECT_FALSE(http::is_loopback_host(""));
}

}  // namespace
}  // namespace sluice::observe
