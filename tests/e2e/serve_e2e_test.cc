// End to end: the real sluice binary, real loopback sockets, real models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/socket.h"
#include "support/child_process.h"
#include "support/results.h"
#include "support/serve_process.h"
#include "support/test_env.h"
#include "support/wait.h"
#include "support/wire_records.h"

namespace sluice::test {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

TEST(ServeEndToEnd, FashionMnistTenThousandFramesOverFourConnections) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  ServeProcess serve({.tag = "fashion", .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto send = spawn_send(serve.dir(), serve.port(), {"--connections", "4", fashion_images()});
  ASSERT_EQ(send.wait(300s), 0) << read_file(serve.dir() + "/send.err");
  EXPECT_EQ(serve.wait_for_lines(10000, 300s), 10000u);
  const auto status = serve.wait_for_status([](const json& s) { return s["frames"]["in_flight"] == 0; });
  EXPECT_EQ(status["frames"]["received"], 10000) << status.dump();
  EXPECT_EQ(status["frames"]["processed"], 10000);
  // Every batch has its statistics (Spark's scheduling delay, processing time, total delay).
  const auto batches = json::parse(serve.get("/api/batches?limit=1000").body);
  ASSERT_FALSE(batches.empty());
  std::uint64_t records = 0;
  for (const auto& b : batches) {
    records += b["records"].get<std::uint64_t>();
    EXPECT_GE(b["scheduling_delay_ms"].get<double>(), 0.0) << b.dump();
    EXPECT_GT(b["processing_time_ms"].get<double>(), 0.0) << b.dump();
    EXPECT_GE(b["total_delay_ms"].get<double>(), b["processing_time_ms"].get<double>()) << b.dump();
  }
  EXPECT_EQ(records, 10000u) << "the batches account for every frame";
  ASSERT_EQ(serve.stop(), 0) << serve.log();

  const auto results = serve.lines();
  ASSERT_EQ(results.size(), 10000u) << "exactly one line per accepted frame";
  std::set<std::uint64_t> streams;
  std::set<std::string> names;
  for (const auto& r : results) {
    ASSERT_TRUE(r.contains("top")) << r.dump();
    streams.insert(r["stream"].get<std::uint64_t>());
    names.insert(r["name"].get<std::string>());
    ASSERT_EQ(r["top"].size(), 5u);
    EXPECT_GE(r["latency_ms"].get<double>(), 0.0);
    EXPECT_GE(r["batch"].get<std::uint64_t>(), 1u);
  }
  EXPECT_EQ(by_key(results).size(), 10000u) << "each (stream, seq) exactly once";
  EXPECT_EQ(streams.size(), 4u) << "each connection is its own stream";
  EXPECT_EQ(names.size(), 10000u) << "every image index answered";
  // The bundle is fp32 (no integer kernels), so its answers do not depend on the CPU. PyTorch
  // measured its accuracy on these same 10,000 images when it trained it, with the same
  // normalisation on the same pixels (PNG is lossless), and wrote it in bundle.yaml. sluice must
  // agree: only float summation order differs (ONNX Runtime against PyTorch), which can flip the
  // argmax of a near tie, a few images at most; 0.003 allows 30. The floor of 0.85 holds for any
  // training run (two epochs reach 0.89-0.90).
  const double accuracy = fashion_accuracy(results);
  RecordProperty("accuracy", std::to_string(accuracy));
  EXPECT_GE(accuracy, 0.85);
  const auto recorded = fashion_recorded_accuracy();
  ASSERT_TRUE(recorded) << fashion_bundle() << "/bundle.yaml records no test accuracy";
  EXPECT_NEAR(accuracy, *recorded, 0.003) << "PyTorch measured " << *recorded << " on the same images";
}

TEST(ServeEndToEnd, ImageNetMobileNetInt8ClassifiesRealPhotographs) {
  const std::string model_dir = shared_path("models/mobilenetv2-12-int8");
  SLUICE_REQUIRE_SHARED(model_dir, shared_path("images/dog.jpg"));
  ServeProcess serve(
      {.tag = "imagenet",
       .args = {"--labels", model_dir + "/imagenet_classes.txt", "--preprocess", "imagenet", "--top-k", "3"},
       .model = model_dir + "/mobilenetv2-12-int8.onnx"});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto send =
      spawn_send(serve.dir(), serve.port(), {shared_path("images/dog.jpg"), shared_path("images/eagle.jpg")});
  ASSERT_EQ(send.wait(60s), 0) << read_file(serve.dir() + "/send.err");
  EXPECT_EQ(serve.wait_for_lines(2, 60s), 2u);
  ASSERT_EQ(serve.stop(), 0);
  auto answers = by_name(serve.lines());
  ASSERT_TRUE(answers.count("dog.jpg") && answers.count("eagle.jpg"));
  const auto& dog = answers["dog.jpg"]["top"][0];
  const auto& eagle = answers["eagle.jpg"]["top"][0];
  EXPECT_EQ(dog["label"], "malamute") << answers["dog.jpg"].dump();
  EXPECT_EQ(eagle["label"], "bald eagle") << answers["eagle.jpg"].dump();
  EXPECT_GT(dog["score"].get<double>(), 0.5);
  EXPECT_GT(eagle["score"].get<double>(), 0.5);
  EXPECT_EQ(answers["dog.jpg"]["top"].size(), 3u);
}

TEST(ServeEndToEnd, ConnectModeReadsFromSendListen) {
  SLUICE_REQUIRE_SETUP(fashion_images(), fashion_bundle());
  const auto dir = make_temp_dir("connect");
  const auto port = free_port();
  auto producer = ChildProcess::spawn({sluice_binary(), "send", "--listen", fmt::format("127.0.0.1:{}", port),
                                       "--limit", "500", fashion_images()},
                                      dir + "/send.out", dir + "/send.err");
  ASSERT_TRUE(wait_until_listening(port, 60s)) << read_file(dir + "/send.err");
  ServeProcess serve(
      {.dir = dir, .args = {"--connect", fmt::format("127.0.0.1:{}", port)}, .listen = false, .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  ASSERT_EQ(producer.wait(120s), 0) << read_file(dir + "/send.err");
  EXPECT_EQ(serve.wait_for_lines(500, 120s), 500u);
  const auto status = serve.status();
  ASSERT_EQ(status["sources"].size(), 1u) << status.dump();
  EXPECT_EQ(status["sources"][0]["name"], fmt::format("tcp-connect 127.0.0.1:{}", port));
  // (Neither its errors nor its state are asserted: once the producer has served its frames and
  // exited, the source keeps dialling it with a backoff, as Spark's socketStream does, and each
  // failed connect counts as an error.)
  EXPECT_EQ(status["sources"][0]["frames"], 500);
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  const auto results = serve.lines();
  ASSERT_EQ(results.size(), 500u);
  std::set<std::uint64_t> seqs;
  for (const auto& r : results) {
    EXPECT_TRUE(r.contains("top"));
    seqs.insert(r["seq"].get<std::uint64_t>());
  }
  EXPECT_EQ(seqs.size(), 500u);
  EXPECT_EQ(*seqs.rbegin(), 499u);
}

TEST(ServeEndToEnd, GarbagePayloadGivesOneErrorLineAndServingContinues) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "garbage", .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const std::string garbage = "not an image";
  ASSERT_TRUE(send_and_close(
      serve.port(),
      concat({make_frame("good-1", 0),
              wire_record("garbage", {reinterpret_cast<const std::uint8_t*>(garbage.data()), garbage.size()}),
              make_frame("good-2", 200)})));
  ASSERT_EQ(serve.wait_for_lines(3, 30s), 3u);
  // The server still serves a new connection afterwards.
  ASSERT_TRUE(send_and_close(serve.port(), make_frame("after", 100)));
  ASSERT_EQ(serve.wait_for_lines(4, 30s), 4u);
  const auto status = serve.wait_for_status([](const json& s) { return s["frames"]["in_flight"] == 0; });
  EXPECT_EQ(status["failures"]["decode"], 1) << status.dump();
  EXPECT_EQ(status["frames"]["failed"], 1);
  ASSERT_EQ(serve.stop(), 0);
  auto answers = by_name(serve.lines());
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_TRUE(answers["good-1"].contains("top"));
  EXPECT_TRUE(answers["good-2"].contains("top"));
  EXPECT_TRUE(answers["after"].contains("top"));
  ASSERT_TRUE(answers["garbage"].contains("error")) << answers["garbage"].dump();
  EXPECT_FALSE(answers["garbage"].contains("top"));
  EXPECT_EQ(answers["garbage"]["error"].get<std::string>().rfind("decode:", 0), 0u)
      << "the error line names its rule: " << answers["garbage"].dump();
  EXPECT_EQ(answers["garbage"]["seq"], 1);
}

TEST(ServeEndToEnd, FramingErrorClosesOnlyTheBadConnection) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "framing", .args = {"--max-frame-bytes", "1MiB"}, .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  auto good = net::connect_tcp({"127.0.0.1", serve.port()}, 5000ms);
  ASSERT_TRUE(good);
  // Half the good stream, then two bad connections, then the rest: the good one must not notice.
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(net::write_all(good->get(), make_frame(fmt::format("g{}", i), 50)));
  for (const auto& bad : {wire_header(static_cast<std::uint32_t>(-5)), wire_header(256u << 20)}) {
    auto fd = net::connect_tcp({"127.0.0.1", serve.port()}, 5000ms);
    ASSERT_TRUE(fd);
    ASSERT_TRUE(net::write_all(fd->get(), bad));
    std::uint8_t byte = 0;
    // The server closes the bad connection: the read ends instead of hanging.
    EXPECT_FALSE(net::read_exact(fd->get(), {&byte, 1}));
  }
  for (int i = 100; i < 200; ++i)
    ASSERT_TRUE(net::write_all(good->get(), make_frame(fmt::format("g{}", i), 50)));
  ASSERT_TRUE(net::write_all(good->get(), end_of_stream()));
  EXPECT_EQ(serve.wait_for_lines(200, 60s), 200u);
  const auto status = serve.status();
  EXPECT_EQ(status["sources"][0]["errors"], 2) << "one framing error per bad connection: " << status.dump();
  EXPECT_EQ(status["sources"][0]["frames"], 200);
  ASSERT_EQ(serve.stop(), 0);
  const auto results = serve.lines();
  ASSERT_EQ(results.size(), 200u);
  for (const auto& r : results) EXPECT_TRUE(r.contains("top")) << r.dump();
  // What an operator reads: each rejection names the rule it broke.
  const auto log = serve.log();
  EXPECT_NE(log.find("rule: a frame length must be >= 0"), std::string::npos) << log;
  EXPECT_NE(log.find("rule: --max-frame-bytes"), std::string::npos) << log;
}

TEST(ServeEndToEnd, TruncatedStreamIsAFramingErrorAndAcceptedFramesStillAnswer) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "truncated", .http = true});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const auto partial = make_frame("partial", 10);
  ASSERT_TRUE(send_and_close(
      serve.port(),
      concat({make_frame("whole", 10),
              Bytes(partial.begin(), partial.begin() + static_cast<std::ptrdiff_t>(partial.size() / 2))})));
  EXPECT_EQ(serve.wait_for_lines(1, 30s), 1u);
  const auto status = serve.wait_for_status([](const json& s) { return s["sources"][0]["errors"] == 1; });
  EXPECT_EQ(status["sources"][0]["errors"], 1) << status.dump();
  EXPECT_NE(status["sources"][0]["last_error"].get<std::string>().find("rule: a stream ends between frames"),
            std::string::npos)
      << status.dump();
  ASSERT_EQ(serve.stop(), 0);
  EXPECT_EQ(serve.lines().size(), 1u);
}

TEST(ServeEndToEnd, BadOptionsFailFastWithAClearMessage) {
  const auto dir = make_temp_dir("options");
  const auto missing = run_sluice(dir, {"serve", "--listen", "127.0.0.1:0", "--model", dir + "/nope"}, 30s);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  const auto bad_interval = run_sluice(dir,
                                       {"serve", "--listen", "127.0.0.1:0", "--model", dir + "/nope",
                                        "--batch-interval", "100ms", "--block-interval", "1s"},
                                       30s);
  EXPECT_EQ(bad_interval.code, 2);
  EXPECT_NE(bad_interval.err.find("--block-interval"), std::string::npos) << bad_interval.err;
}

}  // namespace
}  // namespace sluice::test
