#!/usr/bin/env bash
# Benchmark of the main job, with its baseline measured in the same run:
#   baseline  = ONNX Runtime alone on pre-made tensors, batch 64, every core (sluice bench backend)
#   pipeline  = sluice demo: Fashion-MNIST test images as PNG frames over 4 loopback TCP connections,
#               decode + preprocess + infer + JSON, from the first frame sent to the last result written
# Prints a Markdown row for BENCHMARKS.md. Run scripts/setup.sh and scripts/train-models.sh first.
#   REPEAT=5 bash bench/main_job.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${SLUICE_BUILD_DIR:-build}/sluice
model=.cache/models/fashion-mnist
repeat=${REPEAT:-5}
out=$(mktemp -d)
"$bin" bench backend --model "$model" --batch-sizes 64 --seconds 5 --csv "$out/backend.csv" >/dev/null
baseline=$(awk -F, 'NR==2 {printf "%.0f", $3}' "$out/backend.csv")
"$bin" demo --model "$model" --repeat "$repeat" "$@" 2>/dev/null | tee "$out/demo.txt"
pipeline=$(awk '/^throughput:/ {print $2}' "$out/demo.txt")
p50=$(awk '/^latency:/ {print $3}' "$out/demo.txt")
p99=$(awk '/^latency:/ {print $6}' "$out/demo.txt")
ratio=$(awk -v a="$pipeline" -v b="$baseline" 'BEGIN {printf "%.2f", a / b}')
echo
echo "| main job (Fashion-MNIST, $((repeat * 10000)) frames, 4 connections) | $pipeline frames/s | ONNX Runtime alone, batch 64: $baseline images/s | $ratio | p50 $p50 ms, p99 $p99 ms |"
rm -rf "$out"
