// End to end: the real sluice binary, real loopback sockets, real models.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/socket.h"
#include "support/child_process.h"
#include "support/test_env.h"
#include "vision/idx_file.h"
#include "vision/image_encoder.h"
#include "wire/frame_codec.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

// A `sluice serve` process listening on a free loopback port, writing JSON lines to a file.
class ServeProcess {
 public:
  ServeProcess(const std::string& dir, std::vector<std::string> extra) : port_(free_port()), dir_(dir) {
    std::vector<std::string> argv{
        sluice_binary(),    "serve",  "--listen",         "127.0.0.1:" + std::to_string(port_),
        "--output",         output(), "--batch-interval", "200ms",
        "--block-interval", "50ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_.emplace(ChildProcess::spawn(argv, "", log()));
    ready_ = wait_for_port(port_, 60s);
  }
  std::string output() const { return dir_ + "/results.jsonl"; }
  std::string log() const { return dir_ + "/serve.log"; }
  std::uint16_t port() const { return port_; }
  bool ready() const { return ready_; }
  /// SIGTERM, then the exit code (nullopt if it hangs).
  std::optional<int> stop() {
    process_->signal(SIGTERM);
    return process_->wait(60s);
  }

 private:
  std::uint16_t port_;
  std::string dir_;
  std::optional<ChildProcess> process_;
  bool ready_ = false;
};

std::vector<json> parse_lines(const std::string& path) {
  std::vector<json> out;
  for (const auto& line : read_lines(path)) out.push_back(json::parse(line));
  return out;
}

// Sends raw bytes on a fresh connection and closes it after the peer does (or 10 s).
void send_raw(std::uint16_t port, const std::vector<std::uint8_t>& bytes) {
  auto fd = net::connect_tcp({"127.0.0.1", port}, 5000ms);
  ASSERT_TRUE(fd) << fd.status().to_string();
  ASSERT_TRUE(net::write_all(fd->get(), bytes));
}

std::vector<std::uint8_t> png_frame(const std::string& name, std::uint8_t shade) {
  std::vector<std::uint8_t> pixels(28 * 28, shade);
  auto png = vision::encode_png(pixels, 28, 28, 1);
  std::vector<std::uint8_t> out;
  EXPECT_TRUE(wire::append_record(name, *png, out));
  return out;
}

TEST(ServeEndToEnd, FashionMnistTenThousandFramesOverFourConnections) {
  SLUICE_REQUIRE_PATH(fashion_images());
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()))
      << "the Fashion-MNIST bundle is missing: scripts/run-tests.sh trains it (tools/train_fashion_mnist.py)";
  const auto dir = make_temp_dir("fashion");
  ServeProcess serve(dir, {"--model", fashion_bundle()});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  auto send =
      ChildProcess::spawn({sluice_binary(), "send", "--to", "127.0.0.1:" + std::to_string(serve.port()),
                           "--connections", "4", fashion_images()},
                          dir + "/send.out", dir + "/send.err");
  ASSERT_EQ(send.wait(300s), 0) << read_file(dir + "/send.err");
  EXPECT_NE(read_file(dir + "/send.out").find("sent 10000 frames"), std::string::npos)
      << read_file(dir + "/send.out");
  EXPECT_EQ(wait_for_lines(serve.output(), 10000, 300s), 10000u);
  ASSERT_EQ(serve.stop(), 0) << read_file(serve.log());

  const auto results = parse_lines(serve.output());
  ASSERT_EQ(results.size(), 10000u) << "exactly one line per accepted frame";
  auto truth = vision::read_idx(fashion_labels());
  ASSERT_TRUE(truth) << truth.status().to_string();
  std::set<std::pair<std::uint64_t, std::uint64_t>> keys;
  std::set<std::uint64_t> streams;
  std::set<std::string> names;
  std::size_t correct = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.contains("top")) << r.dump();
    keys.emplace(r["stream"].get<std::uint64_t>(), r["seq"].get<std::uint64_t>());
    streams.insert(r["stream"].get<std::uint64_t>());
    names.insert(r["name"].get<std::string>());
    ASSERT_EQ(r["top"].size(), 5u);
    EXPECT_GE(r["latency_ms"].get<double>(), 0.0);
    EXPECT_GE(r["batch"].get<std::uint64_t>(), 1u);
    const auto index = std::stoul(r["name"].get<std::string>());
    if (r["top"][0]["index"].get<int>() == truth->data.at(index)) ++correct;
  }
  EXPECT_EQ(keys.size(), 10000u) << "each (stream, seq) exactly once";
  EXPECT_EQ(streams.size(), 4u) << "each connection is its own stream";
  EXPECT_EQ(names.size(), 10000u) << "every image index answered";
  const double accuracy = static_cast<double>(correct) / 10000.0;
  EXPECT_GE(accuracy, 0.85);
  const auto log = read_file(serve.log());
  EXPECT_NE(log.find("scheduling delay"), std::string::npos) << "per-batch statistics are logged";
  EXPECT_NE(log.find("processing time"), std::string::npos);
  EXPECT_NE(log.find("total delay"), std::string::npos);
}

TEST(ServeEndToEnd, ImageNetMobileNetInt8ClassifiesRealPhotographs) {
  const std::string model_dir = shared_dir() + "/models/mobilenetv2-12-int8";
  SLUICE_REQUIRE_PATH(model_dir);
  const auto dir = make_temp_dir("imagenet");
  ServeProcess serve(dir, {"--model", model_dir + "/mobilenetv2-12-int8.onnx", "--labels",
                           model_dir + "/imagenet_classes.txt", "--preprocess", "imagenet", "--top-k", "3"});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  auto send =
      ChildProcess::spawn({sluice_binary(), "send", "--to", "127.0.0.1:" + std::to_string(serve.port()),
                           shared_dir() + "/images/dog.jpg", shared_dir() + "/images/eagle.jpg"},
                          "", dir + "/send.err");
  ASSERT_EQ(send.wait(60s), 0) << read_file(dir + "/send.err");
  EXPECT_EQ(wait_for_lines(serve.output(), 2, 60s), 2u);
  ASSERT_EQ(serve.stop(), 0);
  std::map<std::string, json> by_name;
  for (const auto& r : parse_lines(serve.output())) by_name[r["name"].get<std::string>()] = r;
  ASSERT_TRUE(by_name.count("dog.jpg") && by_name.count("eagle.jpg"));
  const auto& dog = by_name["dog.jpg"]["top"][0];
  const auto& eagle = by_name["eagle.jpg"]["top"][0];
  EXPECT_EQ(dog["label"], "malamute") << by_name["dog.jpg"].dump();
  EXPECT_EQ(eagle["label"], "bald eagle") << by_name["eagle.jpg"].dump();
  EXPECT_GT(dog["score"].get<double>(), 0.5);
  EXPECT_GT(eagle["score"].get<double>(), 0.5);
  EXPECT_EQ(by_name["dog.jpg"]["top"].size(), 3u);
}

TEST(ServeEndToEnd, ConnectModeReadsFromSendListen) {
  SLUICE_REQUIRE_PATH(fashion_images());
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("connect");
  const auto port = free_port();
  auto producer =
      ChildProcess::spawn({sluice_binary(), "send", "--listen", "127.0.0.1:" + std::to_string(port),
                           "--limit", "500", fashion_images()},
                          dir + "/send.out", dir + "/send.err");
  auto serve =
      ChildProcess::spawn({sluice_binary(), "serve", "--connect", "127.0.0.1:" + std::to_string(port),
                           "--model", fashion_bundle(), "--output", dir + "/results.jsonl",
                           "--batch-interval", "200ms", "--block-interval", "50ms"},
                          "", dir + "/serve.log");
  ASSERT_EQ(producer.wait(120s), 0) << read_file(dir + "/send.err");
  EXPECT_EQ(wait_for_lines(dir + "/results.jsonl", 500, 120s), 500u);
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait(60s), 0) << read_file(dir + "/serve.log");
  const auto results = parse_lines(dir + "/results.jsonl");
  ASSERT_EQ(results.size(), 500u);
  std::set<std::uint64_t> seqs;
  for (const auto& r : results) {
    EXPECT_TRUE(r.contains("top"));
    seqs.insert(r["seq"].get<std::uint64_t>());
  }
  EXPECT_EQ(seqs.size(), 500u);
  EXPECT_EQ(*seqs.rbegin(), 499u);
  EXPECT_NE(read_file(dir + "/serve.log").find("connected"), std::string::npos);
}

TEST(ServeEndToEnd, GarbagePayloadGivesOneErrorLineAndServingContinues) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("garbage");
  ServeProcess serve(dir, {"--model", fashion_bundle()});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  std::vector<std::uint8_t> stream = png_frame("good-1", 0);
  const std::vector<std::uint8_t> garbage{'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  ASSERT_TRUE(wire::append_record("garbage", garbage, stream));
  auto more = png_frame("good-2", 200);
  stream.insert(stream.end(), more.begin(), more.end());
  send_raw(serve.port(), stream);
  ASSERT_EQ(wait_for_lines(serve.output(), 3, 30s), 3u);
  // The server still serves a new connection afterwards.
  send_raw(serve.port(), png_frame("after", 100));
  ASSERT_EQ(wait_for_lines(serve.output(), 4, 30s), 4u);
  ASSERT_EQ(serve.stop(), 0);
  std::map<std::string, json> by_name;
  for (const auto& r : parse_lines(serve.output())) by_name[r["name"].get<std::string>()] = r;
  ASSERT_EQ(by_name.size(), 4u);
  EXPECT_TRUE(by_name["good-1"].contains("top"));
  EXPECT_TRUE(by_name["good-2"].contains("top"));
  EXPECT_TRUE(by_name["after"].contains("top"));
  ASSERT_TRUE(by_name["garbage"].contains("error")) << by_name["garbage"].dump();
  EXPECT_FALSE(by_name["garbage"].contains("top"));
  EXPECT_NE(by_name["garbage"]["error"].get<std::string>().find("neither JPEG nor PNG"), std::string::npos);
  EXPECT_EQ(by_name["garbage"]["seq"], 1);
}

TEST(ServeEndToEnd, FramingErrorClosesOnlyTheBadConnection) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("framing");
  ServeProcess serve(dir, {"--model", fashion_bundle(), "--max-frame-bytes", "1MiB"});
  ASSERT_TRUE(serve.ready()) << read_file(serve.log());
  auto good = net::connect_tcp({"127.0.0.1", serve.port()}, 5000ms);
  ASSERT_TRUE(good);
  // Half the good stream, then two bad connections, then the rest: the good one must not notice.
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(net::write_all(good->get(), png_frame(fmt::format("g{}", i), 50)));
  std::vector<std::uint8_t> negative(wire::kHeaderBytes, 0);
  negative[28] = 0xFF, negative[29] = 0xFF, negative[30] = 0xFF, negative[31] = 0xFB;  // -5
  std::vector<std::uint8_t> oversize(wire::kHeaderBytes, 0);
  oversize[28] = 0x10;  // 256 MiB > 1 MiB
  for (const auto* bad : {&negative, &oversize}) {
    auto fd = net::connect_tcp({"127.0.0.1", serve.port()}, 5000ms);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(net::write_all(fd->get(), *bad));
    std::uint8_t byte = 0;
    // The server closes the bad connection: the read ends instead of hanging.
    EXPECT_FALSE(net::read_exact(fd->get(), {&byte, 1}));
  }
  for (int i = 100; i < 200; ++i)
    ASSERT_TRUE(net::write_all(good->get(), png_frame(fmt::format("g{}", i), 50)));
  const auto eos = wire::end_of_stream_record();
  ASSERT_TRUE(net::write_all(good->get(), eos));
  EXPECT_EQ(wait_for_lines(serve.output(), 200, 60s), 200u);
  ASSERT_EQ(serve.stop(), 0);
  const auto results = parse_lines(serve.output());
  ASSERT_EQ(results.size(), 200u);
  for (const auto& r : results) EXPECT_TRUE(r.contains("top")) << r.dump();
  const auto log = read_file(serve.log());
  EXPECT_NE(log.find("length -5 is negative"), std::string::npos) << log;
  EXPECT_NE(log.find("--max-frame-bytes"), std::string::npos) << log;
}

TEST(ServeEndToEnd, TruncatedStreamIsAFramingErrorAndAcceptedFramesStillAnswer) {
  ASSERT_TRUE(std::filesystem::exists(fashion_bundle()));
  const auto dir = make_temp_dir("truncated");
  ServeProcess serve(dir, {"--model", fashion_bundle()});
  ASSERT_TRUE(serve.ready());
  auto bytes = png_frame("whole", 10);
  auto partial = png_frame("partial", 10);
  bytes.insert(bytes.end(), partial.begin(),
               partial.begin() + static_cast<std::ptrdiff_t>(partial.size() / 2));
  send_raw(serve.port(), bytes);
  EXPECT_EQ(wait_for_lines(serve.output(), 1, 30s), 1u);
  ASSERT_EQ(serve.stop(), 0);
  EXPECT_EQ(read_lines(serve.output()).size(), 1u);
  EXPECT_NE(read_file(serve.log()).find("closed in the middle of a frame"), std::string::npos);
}

TEST(ServeEndToEnd, BadOptionsFailFastWithAClearMessage) {
  const auto dir = make_temp_dir("options");
  auto missing = ChildProcess::spawn(
      {sluice_binary(), "serve", "--listen", "127.0.0.1:0", "--model", dir + "/nope"}, "", dir + "/err1");
  EXPECT_EQ(missing.wait(30s), 2);
  EXPECT_NE(read_file(dir + "/err1").find("does not exist"), std::string::npos) << read_file(dir + "/err1");
  auto bad_interval =
      ChildProcess::spawn({sluice_binary(), "serve", "--listen", "127.0.0.1:0", "--model", dir + "/nope",
                           "--batch-interval", "100ms", "--block-interval", "1s"},
                          "", dir + "/err2");
  EXPECT_EQ(bad_interval.wait(30s), 2);
  EXPECT_NE(read_file(dir + "/err2").find("--block-interval"), std::string::npos) << read_file(dir + "/err2");
}

}  // namespace
}  // namespace sluice::test
