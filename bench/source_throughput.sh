#!/usr/bin/env bash
# Source throughput: shm-ring against tcp-listen over loopback, same frames, same run.
# Both sources store into a counting sink that drops each frame at once, so the figure is the
# source's own delivery rate (receive, frame, hand over), not the model's. Each producer runs on its
# own thread: sluice's TCP sender (one connection) and the shm-ring producer (a doorbell per 32
# frames). Prints the figures and a Markdown row for BENCHMARKS.md.
#   bash bench/source_throughput.sh            # 10,000 Fashion-MNIST PNGs x 50, 5 rounds, median
#   ROUNDS=3 REPEAT=5 bash bench/source_throughput.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SLUICE_BUILD_DIR:-build}
bin=$build/bench/sluice_source_bench
[ -x "$bin" ] || cmake --build "$build" --target sluice_source_bench sluice_shm_ring >/dev/null
images=${IMAGES:-/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz}
out=$(mktemp)
"$bin" --images "$images" --limit "${LIMIT:-10000}" --repeat "${REPEAT:-50}" --rounds "${ROUNDS:-5}" \
  --plugin "$build/plugins/libsluice_shm_ring.so" "$@" | tee "$out"
tcp=$(awk '/^tcp-listen:/ {print $2}' "$out")
shm=$(awk '/^shm-ring:/ {print $2}' "$out")
ratio=$(awk '/^ratio:/ {print $2}' "$out")
frames=$(awk 'NR==1 {print $6}' "$out")
echo
echo "| source delivery, Fashion-MNIST PNGs (~520 B), $frames frames per run | shm-ring: $shm frames/s | tcp-listen over loopback, 1 connection: $tcp frames/s | $ratio |"
rm -f "$out"
