// Reliability end to end: kill -9 with a WAL and acks, overload under a memory budget, and a
// catalogue of malformed input, all against the real sluice binary over real sockets.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <turbojpeg.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/socket.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/image_encoder.h"
#include "wire/frame_codec.h"

// Under AddressSanitizer resident memory is mostly shadow memory and quarantine: a bound on it
// says nothing about sluice. Those checks run in the release build.
#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_SKIP_UNDER_ASAN() \
  GTEST_SKIP() << "*** SKIPPED under ASan: resident-memory bounds are checked in the release build ***"
#else
#define SLUICE_SKIP_UNDER_ASAN() \
  do {                           \
  } while (0)
#endif

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

std::vector<std::string> serve_args(std::uint16_t port, const std::string& dir,
                                    std::vector<std::string> extra) {
  std::vector<std::string> argv{
      sluice_binary(),    "serve",          "--listen",         fmt::format("127.0.0.1:{}", port),
      "--model",          fashion_bundle(), "--output",         dir + "/results.jsonl",
      "--batch-interval", "200ms",          "--block-interval", "50ms"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// Every (stream, seq) in the output, with how many lines it has. While the server runs, the
// last line may be half written: `settled` is false then, and such a line is skipped.
std::map<std::pair<std::uint64_t, std::uint64_t>, int> count_keys(const std::string& path,
                                                                  bool settled = true) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, int> keys;
  const auto lines = read_lines(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool last = i + 1 == lines.size();
    const auto r = json::parse(lines[i], nullptr, /*allow_exceptions=*/settled || !last);
    if (r.is_discarded()) continue;
    ++keys[{r["stream"].get<std::uint64_t>(), r["seq"].get<std::uint64_t>()}];
  }
  return keys;
}

// Checks that the keys are exactly `streams` producer streams with seqs 0..per_stream-1.
void expect_complete(const std::map<std::pair<std::uint64_t, std::uint64_t>, int>& keys, std::size_t streams,
                     std::uint64_t per_stream) {
  std::map<std::uint64_t, std::uint64_t> count_per_stream;
  for (const auto& [key, n] : keys) {
    EXPECT_LT(key.second, per_stream);
    ++count_per_stream[key.first];
  }
  EXPECT_EQ(count_per_stream.size(), streams);
  for (const auto& [stream, n] : count_per_stream) EXPECT_EQ(n, per_stream) << "stream " << stream;
}

// kill -9 in the middle of a 20,000-frame stream sent with --ack to a server with --wal, then a
// restart with the same settings: every frame gets a result (exactly one with --dedup).
void crash_and_recover(bool dedup) {
  SLUICE_REQUIRE_PATH(fashion_images());
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir(dedup ? "crash-dedup" : "crash");
  const auto port = free_port();
  std::vector<std::string> extra{"--wal", dir + "/wal"};
  if (dedup) extra.push_back("--dedup");
  std::optional<ChildProcess> serve(
      ChildProcess::spawn(serve_args(port, dir, extra), "", dir + "/serve1.log"));
  ASSERT_TRUE(wait_for_port(port, 60s)) << read_file(dir + "/serve1.log");
  auto sender =
      ChildProcess::spawn({sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port), "--ack",
                           "--connections", "4", "--repeat", "2", "--rate", "8000", fashion_images()},
                          dir + "/send.out", dir + "/send.err");
  ASSERT_GE(wait_for_lines(dir + "/results.jsonl", 6000, 120s), 6000u);
  serve->signal(SIGKILL);
  ASSERT_EQ(serve->wait(30s), 128 + SIGKILL);
  const auto before_restart = read_lines(dir + "/results.jsonl").size();
  EXPECT_LT(before_restart, 20000u) << "the crash must happen mid-stream";
  std::this_thread::sleep_for(500ms);  // the producer notices and starts re-connecting
  serve.emplace(ChildProcess::spawn(serve_args(port, dir, extra), "", dir + "/serve2.log"));
  ASSERT_EQ(sender.wait(300s), 0) << read_file(dir + "/send.err");
  EXPECT_NE(read_file(dir + "/send.out").find("sent 20000 frames"), std::string::npos)
      << read_file(dir + "/send.out");
  // Every acknowledged frame reaches the output once the server has worked through it.
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (count_keys(dir + "/results.jsonl", false).size() < 20000 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
  }
  serve->signal(SIGTERM);
  ASSERT_EQ(serve->wait(60s), 0) << read_file(dir + "/serve2.log");
  const auto keys = count_keys(dir + "/results.jsonl");
  ASSERT_EQ(keys.size(), 20000u) << "every frame has at least one result";
  expect_complete(keys, 4, 5000);
  const auto lines = read_lines(dir + "/results.jsonl").size();
  if (dedup) {
    EXPECT_EQ(lines, 20000u) << "exactly one line per frame with --dedup";
  } else {
    EXPECT_GE(lines, 20000u);
  }
  const auto log2 = read_file(dir + "/serve2.log");
  EXPECT_NE(log2.find("without a result to process first"), std::string::npos) << log2;
}

TEST(ReliabilityEndToEnd, KillNineWithWalAndAcksLosesNothing) {
  crash_and_recover(false);
}

TEST(ReliabilityEndToEnd, KillNineWithWalAcksAndDedupGivesExactlyOneLinePerFrame) {
  crash_and_recover(true);
}

std::uint64_t resident_bytes(int pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      std::uint64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

// Producers far above capacity: resident memory stays under the budget and, with acks, every
// frame still gets its result.
TEST(ReliabilityEndToEnd, OverloadStaysUnderTheMemoryBudgetAndLosesNothing) {
  SLUICE_SKIP_UNDER_ASAN();
  SLUICE_REQUIRE_PATH(shared_dir() + "/images/dog.jpg");
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("overload");
  const auto port = free_port();
  const std::uint64_t budget = 192ull << 20;
  // One single-threaded executor decoding 770x512 photographs: a few hundred frames/s at most.
  auto serve = ChildProcess::spawn(
      serve_args(port, dir, {"--memory-budget", "192MiB", "--executors", "1", "--cores", "1"}), "",
      dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s)) << read_file(dir + "/serve.log");
  const int pid = serve.pid();
  auto sender =
      ChildProcess::spawn({sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port), "--ack",
                           "--connections", "5", "--repeat", "400", shared_dir() + "/images"},
                          dir + "/send.out", dir + "/send.err");
  std::uint64_t peak = 0;
  std::optional<int> sent;
  while (!(sent = sender.wait(50ms))) peak = std::max(peak, resident_bytes(pid));
  ASSERT_EQ(sent, 0) << read_file(dir + "/send.err");
  EXPECT_GE(wait_for_lines(dir + "/results.jsonl", 2000, 120s), 2000u);
  peak = std::max(peak, resident_bytes(pid));
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0) << read_file(dir + "/serve.log");
  EXPECT_GT(peak, 0u);
  EXPECT_LT(peak, budget) << "peak resident memory " << (peak >> 20) << " MiB";
  const auto keys = count_keys(dir + "/results.jsonl");
  EXPECT_EQ(keys.size(), 2000u);
  expect_complete(keys, 5, 400);
  RecordProperty("peak_rss_mib", static_cast<int>(peak >> 20));
}

std::vector<std::uint8_t> record_bytes(const std::string& name, const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out;
  EXPECT_TRUE(wire::append_record(name, payload, out));
  return out;
}

std::vector<std::uint8_t> jpeg_of(int w, int h) {
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(w * h * 3), 128);
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  tjCompress2(tj, pixels.data(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, 90, 0);
  std::vector<std::uint8_t> out(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  return out;
}

// Rewrites a JPEG's SOF0 dimensions (a header that lies about the image size).
std::vector<std::uint8_t> jpeg_claiming(int w, int h) {
  auto jpeg = jpeg_of(16, 16);
  for (std::size_t i = 2; i + 8 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = static_cast<std::uint8_t>(h >> 8), jpeg[i + 6] = static_cast<std::uint8_t>(h);
      jpeg[i + 7] = static_cast<std::uint8_t>(w >> 8), jpeg[i + 8] = static_cast<std::uint8_t>(w);
      break;
    }
  }
  return jpeg;
}

void send_and_close(std::uint16_t port, std::span<const std::uint8_t> bytes) {
  auto fd = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(net::write_all(fd->get(), bytes));
}

TEST(ReliabilityEndToEnd, MalformedStreamsEndWithoutACrashEachWithTheRightError) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("malformed");
  const auto port = free_port();
  auto serve = ChildProcess::spawn(serve_args(port, dir, {"--max-pixels", "1000000", "--log-level", "debug"}),
                                   "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s)) << read_file(dir + "/serve.log");

  // 1. A small frame truncated at every byte position, each on its own connection.
  std::vector<std::uint8_t> pixels(28 * 28, 77);
  const auto good = record_bytes("trunc", *vision::encode_png(pixels, 28, 28, 1));
  for (std::size_t cut = 1; cut < good.size(); ++cut) {
    send_and_close(port, std::span<const std::uint8_t>(good.data(), cut));
  }
  // 2. Negative and huge lengths.
  for (std::uint32_t len : {0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu}) {
    std::vector<std::uint8_t> header(wire::kHeaderBytes, 0);
    for (int i = 0; i < 4; ++i)
      header[28 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
    send_and_close(port, header);
  }
  // 3. Random bytes.
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::vector<std::uint8_t> noise(1 + rng() % 4096);
    for (auto& b : noise) b = static_cast<std::uint8_t>(rng());
    send_and_close(port, noise);
  }
  // 4. Corrupt images and lying headers, as whole frames on one good connection.
  auto corrupt_jpeg = jpeg_of(64, 64);
  corrupt_jpeg.resize(corrupt_jpeg.size() / 2);
  auto corrupt_png = *vision::encode_png(pixels, 28, 28, 1);
  for (std::size_t i = 40; i < corrupt_png.size(); i += 7) corrupt_png[i] ^= 0x5A;
  std::vector<std::uint8_t> stream;
  for (const auto& [name, payload] : std::vector<std::pair<std::string, std::vector<std::uint8_t>>>{
           {"corrupt.jpg", corrupt_jpeg},
           {"corrupt.png", corrupt_png},
           {"zero.jpg", jpeg_claiming(0, 0)},
           {"bomb.jpg", jpeg_claiming(50000, 50000)},
           {"good.png", *vision::encode_png(pixels, 28, 28, 1)}}) {
    const auto rec = record_bytes(name, payload);
    stream.insert(stream.end(), rec.begin(), rec.end());
  }
  const auto eos = wire::end_of_stream_record();
  stream.insert(stream.end(), eos.begin(), eos.end());
  send_and_close(port, stream);

  ASSERT_GE(wait_for_lines(dir + "/results.jsonl", 5, 60s), 5u);
  std::this_thread::sleep_for(500ms);
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0) << "the server survived all of it and stopped cleanly";

  std::map<std::string, json> by_name;
  for (const auto& line : read_lines(dir + "/results.jsonl")) {
    const auto r = json::parse(line);
    by_name[r["name"].get<std::string>()] = r;
  }
  EXPECT_EQ(by_name.size(), 5u) << "one line per complete frame, none for truncated ones";
  EXPECT_FALSE(by_name.count("trunc"));
  EXPECT_TRUE(by_name["good.png"].contains("top"));
  auto error_of = [&](const std::string& name) {
    return by_name.count(name) && by_name[name].contains("error") ? by_name[name]["error"].get<std::string>()
                                                                  : "";
  };
  EXPECT_NE(error_of("corrupt.jpg").find("decode"), std::string::npos) << error_of("corrupt.jpg");
  EXPECT_NE(error_of("corrupt.png").find("PNG"), std::string::npos) << error_of("corrupt.png");
  EXPECT_NE(error_of("zero.jpg"), "") << "0x0 is an error";
  EXPECT_NE(error_of("bomb.jpg").find("--max-pixels"), std::string::npos) << error_of("bomb.jpg");
  const auto log = read_file(dir + "/serve.log");
  std::size_t truncated = 0;
  for (std::size_t at = log.find("closed in the middle of a frame"); at != std::string::npos;
       at = log.find("closed in the middle of a frame", at + 1)) {
    ++truncated;
  }
  // Every cut, inside the header or inside the payload, is one counted framing error.
  EXPECT_EQ(truncated, good.size() - 1);
  EXPECT_NE(log.find("is negative"), std::string::npos);
  EXPECT_NE(log.find("--max-frame-bytes"), std::string::npos);
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// Spark's backpressure can exceed its own limits at cold start. Here --max-rate caps from the
// first frame, the PID estimate is published per batch, and ingestion never runs faster.
TEST(ReliabilityEndToEnd, BackpressureNeverExceedsTheMaxRate) {
  SLUICE_REQUIRE_PATH(fashion_images());
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("rate");
  const auto port = free_port();
  auto serve = ChildProcess::spawn(
      serve_args(port, dir, {"--backpressure", "--initial-rate", "300", "--max-rate", "600"}), "",
      dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s));
  const auto start = std::chrono::steady_clock::now();
  auto sender = ChildProcess::spawn({sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port),
                                     "--limit", "1500", fashion_images()},
                                    "", dir + "/send.err");
  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");
  ASSERT_EQ(wait_for_lines(dir + "/results.jsonl", 1500, 60s), 1500u);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  // 1500 frames at no more than 600/s (300/s until the first estimate), with at most one
  // second's burst: no less than (1500 - 600) / 600 = 1.5 s.
  EXPECT_GE(elapsed, 1500ms) << "ingestion ran faster than --max-rate";
  const auto log = read_file(dir + "/serve.log");
  EXPECT_NE(log.find("rate limit 300 records/s"), std::string::npos) << "the initial rate is published";
  EXPECT_EQ(log.find("rate limit none"), std::string::npos) << "a rate is published for every batch";
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}

// Storage level disk: every block goes to disk and comes back; nothing is lost or left behind.
TEST(ReliabilityEndToEnd, StorageLevelDiskSpillsEveryBlockAndLosesNothing) {
  SLUICE_REQUIRE_PATH(fashion_images());
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("disk-level");
  const auto port = free_port();
  auto serve =
      ChildProcess::spawn(serve_args(port, dir, {"--storage-level", "disk", "--spill-dir", dir + "/spill"}),
                          "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s)) << read_file(dir + "/serve.log");
  auto sender = ChildProcess::spawn({sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port),
                                     "--limit", "3000", "--connections", "3", fashion_images()},
                                    "", dir + "/send.err");
  ASSERT_EQ(sender.wait(120s), 0) << read_file(dir + "/send.err");
  ASSERT_EQ(wait_for_lines(dir + "/results.jsonl", 3000, 120s), 3000u);
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  const auto keys = count_keys(dir + "/results.jsonl");
  EXPECT_EQ(keys.size(), 3000u);
  for (const auto& line : read_lines(dir + "/results.jsonl")) {
    ASSERT_NE(line.find("\"top\""), std::string::npos) << line;  // payloads read back intact
  }
  const auto log = read_file(dir + "/serve.log");
  EXPECT_NE(log.find("storage level disk"), std::string::npos);
  EXPECT_NE(log.find("were spilled to disk and read back"), std::string::npos) << log;
  EXPECT_EQ(files_in(dir + "/spill"), 0u) << "spill files are deleted once processed";
}

// memory_and_disk under overload: blocks spill once memory is half used, and come back in order.
TEST(ReliabilityEndToEnd, StorageLevelMemoryAndDiskSpillsUnderPressure) {
  SLUICE_SKIP_UNDER_ASAN();
  SLUICE_REQUIRE_PATH(shared_dir() + "/images/dog.jpg");
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("spill-level");
  const auto port = free_port();
  auto serve =
      ChildProcess::spawn(serve_args(port, dir,
                                     {"--storage-level", "memory_and_disk", "--spill-dir", dir + "/spill",
                                      "--memory-budget", "128MiB", "--executors", "1", "--cores", "1"}),
                          "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s)) << read_file(dir + "/serve.log");
  auto sender =
      ChildProcess::spawn({sluice_binary(), "send", "--to", fmt::format("127.0.0.1:{}", port), "--ack",
                           "--connections", "5", "--repeat", "300", shared_dir() + "/images"},
                          "", dir + "/send.err");
  ASSERT_EQ(sender.wait(300s), 0) << read_file(dir + "/send.err");
  ASSERT_EQ(wait_for_lines(dir + "/results.jsonl", 1500, 120s), 1500u);
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  expect_complete(count_keys(dir + "/results.jsonl"), 5, 300);
  EXPECT_NE(read_file(dir + "/serve.log").find("were spilled to disk and read back"), std::string::npos);
  EXPECT_EQ(files_in(dir + "/spill"), 0u);
}

}  // namespace
}  // namespace sluice::test

namespace sluice::test {
namespace {

// True when the server closes `fd` within `timeout` (a read sees the end of the stream).
bool closed_by_server(int fd, std::chrono::milliseconds timeout) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte = 0;
  return ::recv(fd, &byte, 1, 0) <= 0;
}

TEST(ReliabilityEndToEnd, SlowLorisExtraConnectionsAndNonUtf8NamesAreHandled) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("hostile");
  const auto port = free_port();
  auto serve = ChildProcess::spawn(serve_args(port, dir, {"--idle-timeout", "1s", "--max-connections", "3"}),
                                   "", dir + "/serve.log");
  ASSERT_TRUE(wait_for_port(port, 60s));
  std::this_thread::sleep_for(200ms);  // the probe connection of wait_for_port is gone

  // A slow-loris sender: one byte now and then, never a whole frame.
  auto loris = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(loris);
  // Two more fill the limit of 3; a fourth is refused.
  auto second = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  auto third = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(second && third);
  auto fourth = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(fourth);
  EXPECT_TRUE(closed_by_server(fourth->get(), 5000ms)) << "a connection over --max-connections is refused";
  bool loris_closed = false;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!loris_closed && std::chrono::steady_clock::now() < deadline) {
    const std::uint8_t byte = 'x';
    if (::send(loris->get(), &byte, 1, MSG_NOSIGNAL) < 0) break;
    loris_closed = closed_by_server(loris->get(), 300ms);
  }
  EXPECT_TRUE(loris_closed || std::chrono::steady_clock::now() < deadline)
      << "the slow-loris connection was closed";

  // A name that is not UTF-8 is escaped in the output, which stays valid JSON.
  second.value().reset();
  third.value().reset();
  std::vector<std::uint8_t> pixels(28 * 28, 9);
  const std::string bad_name = "\xff\xfeimg\x01";
  send_and_close(port, record_bytes(bad_name, *vision::encode_png(pixels, 28, 28, 1)));
  ASSERT_EQ(wait_for_lines(dir + "/results.jsonl", 1, 30s), 1u);
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0);
  const auto line = read_lines(dir + "/results.jsonl").at(0);
  const auto r = json::parse(line);  // throws if the escaping broke the JSON
  EXPECT_NE(line.find(R"(\u00ff\u00feimg\u0001)"), std::string::npos) << line;
  EXPECT_TRUE(r.contains("top"));
  const auto log = read_file(dir + "/serve.log");
  EXPECT_NE(log.find("--idle-timeout"), std::string::npos) << log;
  EXPECT_NE(log.find("--max-connections"), std::string::npos) << log;
}

}  // namespace
}  // namespace sluice::test
