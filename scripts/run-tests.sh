#!/usr/bin/env bash
# The whole test suite: set up (idempotent), train the test model once, check formatting, run
# every test of the release build, then the sanitizer builds.
#   SLUICE_SKIP_SANITIZERS=1   only the release build (for a quick local run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/train-models.sh
jobs=$(nproc)

echo "== clang-format"
files=$(git ls-files '*.cc' '*.h')
if ! clang-format --dry-run --Werror $files; then
  echo "clang-format: the files above are not formatted; run: clang-format -i \$(git ls-files '*.cc' '*.h')"
  exit 1
fi

echo "== release build: all tests"
(cd build && ctest --no-tests=error --output-on-failure -j"$jobs" --timeout 900)

if [ "${SLUICE_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== ASan + UBSan build: all tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON -DSLUICE_SANITIZE=address,undefined -DSLUICE_WITH_TORCH=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions="$root/.ci/lsan.supp" UBSAN_OPTIONS=print_stacktrace=1 ctest --no-tests=error --output-on-failure -j"$jobs" --timeout 900)

  echo "== TSan build: engine tests and the in-process pipelines (labels engine, tsan)"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON -DSLUICE_SANITIZE=thread -DSLUICE_WITH_TORCH=OFF >/dev/null
  cmake --build build-tsan -j"$jobs" --target sluice_engine_tests sluice_concurrency_tests sluice
  (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --no-tests=error --output-on-failure -L '^(engine|tsan)$' --timeout 900)

  echo "== libFuzzer: each target for 60 s"
  bash scripts/run-fuzz.sh 60
fi
