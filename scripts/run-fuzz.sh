#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 and runs each for SECONDS (default 60) on a scratch
# copy of its seed corpus in fuzz/corpus/. Fails if any target finds a crash; the crashing input
# is left in artifacts/fuzz/.
#   bash scripts/run-fuzz.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
build=${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang-14 CXX=clang++-14 cmake -S fuzz -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)"
mkdir -p artifacts/fuzz
for target in frame_parser image_decode frame_path wal_record; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$target"/* "$work"/
  echo "== fuzz $target for ${seconds}s"
  if ! "$build/${target}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="artifacts/fuzz/${target}-" "$work" > "artifacts/fuzz/$target.log" 2>&1; then
    tail -40 "artifacts/fuzz/$target.log"
    echo "fuzz $target: FAILED (inputs in artifacts/fuzz/)"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "artifacts/fuzz/$target.log" || true
  rm -rf "$work"
done
