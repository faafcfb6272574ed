#include "support/test_env.h"

#include <cstdlib>
#include <filesystem>

namespace sluice::test {
namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}
}  // namespace

std::string shared_dir() {
  return env_or("SLUICE_SHARED", SLUICE_SHARED_DIR_DEFAULT);
}
std::string fashion_bundle() {
  return env_or("SLUICE_FASHION_BUNDLE", SLUICE_FASHION_BUNDLE_DEFAULT);
}
std::string fashion_images() {
  return env_or("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist") + "/t10k-images-idx3-ubyte.gz";
}
std::string fashion_labels() {
  return env_or("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist") + "/t10k-labels-idx1-ubyte.gz";
}
std::string sluice_binary() {
  return SLUICE_BINARY;
}

std::string make_temp_dir(const std::string& tag) {
  std::string pattern = (std::filesystem::temp_directory_path() / ("sluice-" + tag + "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

}  // namespace sluice::test
