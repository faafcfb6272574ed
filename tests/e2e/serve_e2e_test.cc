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

#include "model/backend.h"
#include "model/model_bundle.h"
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

// torchvision's ImageNet preprocessing (PIL: shorter side to 256, bilinear with antialiasing,
// centre crop 224, normalise) of each image, as float32 NCHW tensors one after the other in `out`.
constexpr const char* kTorchvisionPreprocess = R"(
import sys
import numpy as np
from PIL import Image
import torchvision.transforms as T
t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
               T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
with open(sys.argv[1], "wb") as out:
    for path in sys.argv[2:]:
        out.write(t(Image.open(path).convert("RGB")).numpy().astype(np.float32).tobytes())
)";

struct Reference {
  std::string label;
  double score = 0;
};

// The reference answer for each image, computed now on this machine: torchvision's preprocessing
// (run by Debian's python3), then the same fp32 model through sluice's ONNX Runtime backend,
// softmax over its logits. Empty (with a test failure) when it cannot be computed.
std::vector<Reference> torchvision_reference(const std::string& dir, const std::string& model_dir,
                                             const std::vector<std::string>& images) {
  const auto script = dir + "/preprocess.py";
  std::ofstream(script) << kTorchvisionPreprocess;
  std::vector<std::string> argv{kPython, script, dir + "/tensors.f32"};
  argv.insert(argv.end(), images.begin(), images.end());
  auto python = ChildProcess::spawn(argv, "", dir + "/python.err");
  const auto rc = python.wait(300s);
  EXPECT_EQ(rc, 0) << read_file(dir + "/python.err");
  if (rc != 0) return {};
  const auto bytes = read_file(dir + "/tensors.f32");
  const std::size_t per_image = 3 * 224 * 224;
  EXPECT_EQ(bytes.size(), images.size() * per_image * sizeof(float));
  if (bytes.size() != images.size() * per_image * sizeof(float)) return {};
  std::vector<float> input(images.size() * per_image);
  std::memcpy(input.data(), bytes.data(), bytes.size());

  model::BundleOverrides overrides;
  overrides.preprocess_preset = "imagenet";
  overrides.labels_path = model_dir + "/imagenet_classes.txt";
  auto bundle = model::load_bundle(model_dir + "/mobilenetv2-12-fp32.onnx", overrides);
  EXPECT_TRUE(bundle) << bundle.status().to_string();
  if (!bundle) return {};
  auto backend = model::create_backend(*bundle, {2, images.size()});
  EXPECT_TRUE(backend) << backend.status().to_string();
  if (!backend) return {};
  std::vector<float> logits(images.size() * 1000);
  const auto st = (*backend)->infer(input, images.size(), logits);
  EXPECT_TRUE(st) << st.to_string();
  if (!st) return {};
  const auto labels = read_lines(model_dir + "/imagenet_classes.txt");
  std::vector<Reference> out;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const auto first = logits.begin() + static_cast<std::ptrdiff_t>(i * 1000);
    const auto top = std::max_element(first, first + 1000);
    double sum = 0;
    for (auto it = first; it != first + 1000; ++it) sum += std::exp(static_cast<double>(*it - *top));
    out.push_back({labels.at(static_cast<std::size_t>(top - first)), 1.0 / sum});
  }
  return out;
}

// The fp32 MobileNetV2 gives the same answers on every x86-64 CPU (no integer kernels; the int8
// model's scores depend on VNNI and must not be asserted). sluice's answers are checked against
// a reference computed in this run: torchvision's preprocessing and the same model.
TEST(ServeEndToEnd, ImageNetMobileNetFp32ClassifiesRealPhotographsAsTorchvisionDoes) {
  const std::string model_dir = shared_path("models/mobilenetv2-12-fp32");
  SLUICE_REQUIRE_SHARED(model_dir, shared_path("images/dog.jpg"));
  SLUICE_REQUIRE_SETUP(kPython);
  ServeProcess serve(
      {.tag = "imagenet",
       .args = {"--labels", model_dir + "/imagenet_classes.txt", "--preprocess", "imagenet", "--top-k", "3"},
       .model = model_dir + "/mobilenetv2-12-fp32.onnx"});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const std::vector<std::string> names{"dog.jpg", "eagle.jpg", "giraffe.jpg"};
  std::vector<std::string> paths;
  for (const auto& n : names) paths.push_back(shared_path("images/" + n));
  auto send = spawn_send(serve.dir(), serve.port(), paths);
  ASSERT_EQ(send.wait(60s), 0) << read_file(serve.dir() + "/send.err");
  EXPECT_EQ(serve.wait_for_lines(names.size(), 60s), names.size());
  ASSERT_EQ(serve.stop(), 0) << serve.log();
  const auto answers = by_name(serve.lines());
  const auto reference = torchvision_reference(serve.dir(), model_dir, paths);
  ASSERT_EQ(reference.size(), names.size());

  // The labels a person sees in these photographs; the model's top-1 with torchvision's
  // preprocessing leads its runner-up by a wide margin on each (0.75, 0.75 and 0.79).
  const std::map<std::string, std::string> expected{
      {"dog.jpg", "malamute"}, {"eagle.jpg", "bald eagle"}, {"giraffe.jpg", "zebra"}};
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    ASSERT_TRUE(answers.count(names[i]));
    const auto& top = answers.at(names[i])["top"];
    ASSERT_EQ(top.size(), 3u) << answers.at(names[i]).dump();
    EXPECT_EQ(reference[i].label, expected.at(names[i])) << "torchvision's answer";
    EXPECT_EQ(top[0]["label"], reference[i].label) << answers.at(names[i]).dump();
    // sluice decodes and resizes with its own code (libjpeg-turbo, its own resize), not PIL's: the
    // tensors differ by a grey level here and there. On this model one grey level on 2 % of the
    // pixels moves a top-1 score by at most 0.003 (models/README.md); measured on an AMD EPYC,
    // sluice minus torchvision was +0.009 (dog), -0.0002 (eagle), -0.0003 (giraffe). The bound,
    // 0.05, is five times the largest gap, and far below the top-1 margins above, so a real
    // preprocessing error (wrong mean, BGR order, no centre crop) still fails. fp32 kernels differ
    // between AVX2 and AVX-512 only in summation order (about 1e-6 on a score).
    RecordProperty(names[i] + "_sluice_minus_torchvision",
                   std::to_string(top[0]["score"].get<double>() - reference[i].score));
    EXPECT_NEAR(top[0]["score"].get<double>(), reference[i].score, 0.05)
        << "torchvision + the same model give " << reference[i].score;
  }
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

// Defaults that depend on another setting follow it: --batch-interval 100ms alone runs with a
// 100 ms block interval, where a fixed 200 ms default refused to start. Only a block interval the
// user set can clash with the batch interval (previous test).
TEST(ServeEndToEnd, AShortBatchIntervalAloneStartsWithABlockIntervalThatFollowsIt) {
  SLUICE_REQUIRE_SETUP(fashion_bundle());
  ServeProcess serve({.tag = "short-batch", .http = true, .batch_interval = "100ms", .block_interval = ""});
  ASSERT_TRUE(serve.ready()) << serve.log();
  const auto status = serve.status();
  EXPECT_EQ(status["config"]["batch_interval_ms"], 100) << status.dump();
  EXPECT_EQ(status["config"]["block_interval_ms"], 100) << status.dump();
  ASSERT_EQ(serve.stop(), 0) << serve.log();
}

// An int8 model on a CPU without VNNI or AMX: one warning that names the cause and what to do, in
// the log and in /api/status. SLUICE_CPU_DISABLE hides the instructions from sluice's own detection
// (this machine may have them); ONNX Runtime still uses what the CPU has, so no score is asserted.
TEST(ServeEndToEnd, AnInt8ModelOnACpuWithoutVnniIsWarnedAbout) {
  const auto int8 = shared_dir() + "/models/mobilenetv2-12-int8/mobilenetv2-12-int8.onnx";
  const auto fp32 = shared_dir() + "/models/mobilenetv2-12-fp32/mobilenetv2-12-fp32.onnx";
  SLUICE_REQUIRE_SHARED(int8, fp32);
  ::setenv("SLUICE_CPU_DISABLE", "avx512_vnni,avx_vnni,amx_int8", 1);
  ServeProcess warned(
      {.tag = "int8-novnni", .args = {"--preprocess", "imagenet"}, .http = true, .model = int8});
  ServeProcess fp32_quiet(
      {.tag = "fp32-novnni", .args = {"--preprocess", "imagenet"}, .http = true, .model = fp32});
  ::unsetenv("SLUICE_CPU_DISABLE");
  ASSERT_TRUE(warned.ready()) << warned.log();
  ASSERT_TRUE(fp32_quiet.ready()) << fp32_quiet.log();
  const auto warnings = warned.status()["warnings"];
  ASSERT_EQ(warnings.size(), 1u) << warnings.dump();
  const auto text = warnings[0].get<std::string>();
  for (const char* part : {"int8", "no VNNI or AMX", "fp32 model", "reduce_range"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << " in: " << text;
  }
  EXPECT_NE(warned.log().find("no VNNI or AMX"), std::string::npos) << "logged once at start";
  EXPECT_TRUE(fp32_quiet.status()["warnings"].empty()) << "an fp32 model runs the same everywhere";
  ASSERT_EQ(warned.stop(), 0);
  ASSERT_EQ(fp32_quiet.stop(), 0);
}

}  // namespace
}  // namespace sluice::test
