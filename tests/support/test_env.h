// Where tests find their data and the sluice binary.
#pragma once

#include <string>

namespace sluice::test {

/// ../shared (models, images), or $SLUICE_SHARED.
std::string shared_dir();
/// The trained Fashion-MNIST bundle, or $SLUICE_FASHION_BUNDLE.
std::string fashion_bundle();
/// The Fashion-MNIST test images and labels (Debian's dataset-fashion-mnist), or $FASHION_MNIST_DIR.
std::string fashion_images();
std::string fashion_labels();
/// The sluice executable built with the tests.
std::string sluice_binary();
/// A fresh temporary directory for one test.
std::string make_temp_dir(const std::string& tag);

}  // namespace sluice::test

/// Skips the test loudly when shared data is absent (it is present in CI).
#define SLUICE_REQUIRE_PATH(path)                                                                       \
  do {                                                                                                  \
    if (!std::filesystem::exists(path)) {                                                               \
      GTEST_SKIP() << "\n*** SKIPPED: required test data '" << (path) << "' is absent. ***\n"           \
                   << "*** Set SLUICE_SHARED / SLUICE_FASHION_BUNDLE or run scripts/run-tests.sh. ***"; \
    }                                                                                                   \
  } while (0)
