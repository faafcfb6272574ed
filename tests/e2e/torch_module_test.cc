// The libtorch module is loaded only for TorchScript bundles: an ONNX pipeline never maps libtorch
// (it costs ~140 MiB of resident memory), a TorchScript bundle loads it on first use, and a wrong
// SLUICE_TORCH_MODULE is a clear error rather than a silent fallback.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/backend.h"
#include "model/model_bundle.h"
#include "support/child_process.h"
#include "support/test_env.h"

namespace sluice::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool process_maps(const std::string& needle) {
  return read_file("/proc/self/maps").find(needle) != std::string::npos;
}

std::string fashion_torch_bundle() {
  return fashion_bundle() + "-torch";
}

TEST(TorchModule, OnnxBackendsNeverLoadLibtorchAndTorchScriptBundlesLoadItOnFirstUse) {
#ifndef SLUICE_HAVE_TORCH
  GTEST_SKIP()
      << "*** SKIPPED: this build has no libtorch module (configure with -DSLUICE_WITH_TORCH=ON) ***";
#endif
  SLUICE_REQUIRE_SETUP(fashion_bundle(), fashion_torch_bundle());
  ASSERT_FALSE(process_maps("libtorch")) << "the test binary itself must not link libtorch";
  auto onnx = model::load_bundle(fashion_bundle(), {});
  ASSERT_TRUE(onnx) << onnx.status().to_string();
  auto onnx_backend = model::create_backend(*onnx, {1, 8});
  ASSERT_TRUE(onnx_backend) << onnx_backend.status().to_string();
  EXPECT_FALSE(process_maps("libtorch_cpu")) << "an ONNX backend loaded libtorch";

  auto torch = model::load_bundle(fashion_torch_bundle(), {});
  ASSERT_TRUE(torch) << torch.status().to_string();
  auto torch_backend = model::create_backend(*torch, {1, 8});
  ASSERT_TRUE(torch_backend) << torch_backend.status().to_string();
  EXPECT_TRUE(process_maps("libsluice_torch.so"));
  EXPECT_TRUE(process_maps("libtorch_cpu"));
  EXPECT_NE((*torch_backend)->describe().find("libtorch"), std::string::npos) << (*torch_backend)->describe();
  // Both answer the same question the same way (fp32 on both sides).
  EXPECT_EQ((*torch_backend)->shape().classes, (*onnx_backend)->shape().classes);
}

// Runs `sluice bench backend` on the TorchScript bundle with SLUICE_TORCH_MODULE set; returns the
// exit status and stderr.
std::pair<int, std::string> bench_with_module(const std::string& module_path) {
  ::setenv("SLUICE_TORCH_MODULE", module_path.c_str(), 1);
  const auto r = run_sluice(
      make_temp_dir("torch-module"),
      {"bench", "backend", "--model", fashion_torch_bundle(), "--batch-sizes", "1", "--seconds", "0.1"},
      120s);
  ::unsetenv("SLUICE_TORCH_MODULE");
  return {r.code, r.err};
}

TEST(TorchModule, AMissingModuleNamedBySluiceTorchModuleIsAClearErrorNotAFallback) {
#ifndef SLUICE_HAVE_TORCH
  GTEST_SKIP()
      << "*** SKIPPED: this build has no libtorch module (configure with -DSLUICE_WITH_TORCH=ON) ***";
#endif
  SLUICE_REQUIRE_SETUP(fashion_torch_bundle());
  const auto [status, err] = bench_with_module("/nonexistent/libsluice_torch.so");
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("/nonexistent/libsluice_torch.so: not found"), std::string::npos) << err;
  EXPECT_NE(err.find("SLUICE_TORCH_MODULE"), std::string::npos) << err;
}

TEST(TorchModule, AFileThatIsNotTheModuleIsRefusedWithTheLoadersReason) {
#ifndef SLUICE_HAVE_TORCH
  GTEST_SKIP()
      << "*** SKIPPED: this build has no libtorch module (configure with -DSLUICE_WITH_TORCH=ON) ***";
#endif
  SLUICE_REQUIRE_SETUP(fashion_torch_bundle());
  const std::string fake = make_temp_dir("torch-module-fake") + "/libsluice_torch.so";
  std::ofstream(fake) << "not an ELF file\n";
  const auto [status, err] = bench_with_module(fake);
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find(fake), std::string::npos) << err;
  EXPECT_NE(err.find("cannot load the libtorch module"), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::test
