#include "support/test_env.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include <fmt/format.h>

namespace sluice::test {
namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string fashion_dataset_dir() {
  return env_or("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist");
}

// The script that provides `path`: the trained bundles come from train-models.sh, the rest
// (Debian packages) from setup.sh.
std::string provided_by(const std::string& path) {
  const bool trained =
      path.rfind(fashion_bundle(), 0) == 0 || path.find("/.cache/models/") != std::string::npos;
  return trained ? "bash scripts/train-models.sh (SLUICE_FASHION_BUNDLE overrides the bundle's path)"
                 : "bash scripts/setup.sh";
}
}  // namespace

std::string shared_dir() {
  return env_or("SLUICE_SHARED", SLUICE_SHARED_DIR_DEFAULT);
}
std::string shared_path(const std::string& relative) {
  return shared_dir() + "/" + relative;
}
std::string fashion_bundle() {
  return env_or("SLUICE_FASHION_BUNDLE", SLUICE_FASHION_BUNDLE_DEFAULT);
}
std::string fashion_images() {
  return fashion_dataset_dir() + "/t10k-images-idx3-ubyte.gz";
}
std::string fashion_labels() {
  return fashion_dataset_dir() + "/t10k-labels-idx1-ubyte.gz";
}
std::string sluice_binary() {
  return SLUICE_BINARY;
}

namespace {
// The directories make_temp_dir() made during the current test.
std::mutex temp_mu;
std::vector<std::string> temp_dirs;

// Removes a test's temporary directories once it ends, except after a failure: then they stay
// for inspection, and the test's output says where.
class TempDirCleaner final : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    std::vector<std::string> dirs;
    {
      std::lock_guard lock(temp_mu);
      dirs.swap(temp_dirs);
    }
    for (const auto& dir : dirs) {
      if (info.result()->Failed()) {
        std::fprintf(stderr, "kept for inspection: %s\n", dir.c_str());
      } else {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  }
};

[[maybe_unused]] const bool cleaner_installed = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new TempDirCleaner);
  return true;
}();
}  // namespace

std::vector<std::string> sanitizer_serve_flags() {
#if defined(__SANITIZE_ADDRESS__)
  return {"--memory-budget", "2GiB"};
#else
  return {};
#endif
}

std::string make_temp_dir(const std::string& tag) {
  std::string pattern = (std::filesystem::temp_directory_path() / ("sluice-" + tag + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) return {};
  std::lock_guard lock(temp_mu);
  temp_dirs.push_back(pattern);
  return pattern;
}

std::optional<std::string> missing_setup(std::initializer_list<std::string> paths) {
  for (const auto& path : paths) {
    if (!std::filesystem::exists(path)) {
      return fmt::format("\n*** FAILED: '{}' is missing. The project's setup provides it: run {} ***\n", path,
                         provided_by(path));
    }
  }
  return std::nullopt;
}

std::optional<std::string> missing_shared(std::initializer_list<std::string> paths) {
  for (const auto& path : paths) {
    if (!std::filesystem::exists(path)) {
      return fmt::format(
          "\n*** SKIPPED: shared test data '{}' is absent (present in CI beside the checkout as "
          "../shared; SLUICE_SHARED=<dir> points elsewhere) ***\n",
          path);
    }
  }
  return std::nullopt;
}

}  // namespace sluice::test
