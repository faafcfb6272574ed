// Where tests find their data and the sluice binary, and the one policy for data that is missing:
//
// - Data the project's setup provides (Debian packages installed by scripts/setup.sh: the
//   Fashion-MNIST dataset, python3-torchvision, redis-server, promtool, chromium; the bundles
//   trained by scripts/train-models.sh): its absence is a broken setup, so the test FAILS, naming
//   the path and the script that provides it. SLUICE_REQUIRE_SETUP.
// - Data from ../shared (models, photographs), which may be absent outside CI: the test is
//   SKIPPED, loudly, naming the path and SLUICE_SHARED. SLUICE_REQUIRE_SHARED.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::test {

/// ../shared (models, images), or $SLUICE_SHARED.
std::string shared_dir();
/// shared_dir() + "/" + relative, e.g. shared_path("models/mobilenetv2-12-fp32").
std::string shared_path(const std::string& relative);
/// The trained Fashion-MNIST bundle, or $SLUICE_FASHION_BUNDLE.
std::string fashion_bundle();
/// The Fashion-MNIST test images and labels (Debian's dataset-fashion-mnist), or $FASHION_MNIST_DIR.
std::string fashion_images();
std::string fashion_labels();
/// Debian's redis-server, which the Redis tests start on free loopback ports.
inline constexpr const char* kRedisServer = "/usr/bin/redis-server";
/// Debian's python3, with python3-torch and python3-torchvision (same-run reference scores).
inline constexpr const char* kPython = "/usr/bin/python3";
/// The sluice executable built with the tests.
std::string sluice_binary();
/// Flags the tests add to a `sluice serve` that does not set its own memory budget: under
/// AddressSanitizer, whose shadow memory and quarantine (256 MiB by default) count as resident
/// memory, --memory-budget 2GiB, so that the default 512 MiB does not refuse a 224x224 model at
/// start; nothing otherwise. Tests of the budget itself give theirs.
std::vector<std::string> sanitizer_serve_flags();
/// A fresh temporary directory for one test.
std::string make_temp_dir(const std::string& tag);

/// Why a test cannot run for want of setup-provided `paths`, or nullopt when they all exist.
std::optional<std::string> missing_setup(std::initializer_list<std::string> paths);
/// Why a test cannot run for want of shared `paths`, or nullopt when they all exist.
std::optional<std::string> missing_shared(std::initializer_list<std::string> paths);

}  // namespace sluice::test

/// Fails the test (and returns from it) unless every path exists: data the setup scripts provide.
#define SLUICE_REQUIRE_SETUP(...)                                                  \
  do {                                                                             \
    if (const auto sluice_missing_ = ::sluice::test::missing_setup({__VA_ARGS__})) \
      FAIL() << *sluice_missing_;                                                  \
  } while (0)

/// Skips the test loudly unless every path exists: data from ../shared (or $SLUICE_SHARED).
#define SLUICE_REQUIRE_SHARED(...)                                                  \
  do {                                                                              \
    if (const auto sluice_missing_ = ::sluice::test::missing_shared({__VA_ARGS__})) \
      GTEST_SKIP() << *sluice_missing_;                                             \
  } while (0)

/// The former name of SLUICE_REQUIRE_SHARED (kept for tests written against it).
#define SLUICE_REQUIRE_PATH(path) SLUICE_REQUIRE_SHARED(path)
