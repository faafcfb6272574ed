#!/usr/bin/env bash
# Issue 3's measurements, each against its baseline from the same run (BENCHMARKS.md, "Fast path").
#   bash bench/fast_path.sh            # writes CSV, SVG and logs to $OUT (default: bench-results/)
# Needs scripts/setup.sh and scripts/train-models.sh (the resnet50 bundles come from there), and
# ../shared (mobilenetv2-12-int8 and the photographs). Run it on a quiet machine: about 8 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${SLUICE_BUILD_DIR:-build}/sluice
out=${OUT:-bench-results}
shared=${SLUICE_SHARED:-../shared}
mnv2=$shared/models/mobilenetv2-12-int8
fashion_idx=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
mkdir -p "$out"
run() {  # name, then the sluice arguments; stdout to $out/name.txt, progress to $out/name.log
  local name=$1
  shift
  echo "== $name: sluice $*" | tee -a "$out/commands.txt"
  "$bin" "$@" >"$out/$name.txt" 2>"$out/$name.log"
  cat "$out/$name.txt"
}

echo "machine: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" |
  tee "$out/machine.txt"
grep -o -w 'avx512f\|avx512_vnni\|avx512_bf16\|amx_bf16\|amx_int8\|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ' |
  tee -a "$out/machine.txt"
echo | tee -a "$out/machine.txt"

# 1. bf16 against ONNX Runtime fp32: raw engines on pre-made tensors, interleaved twice.
for round in 1 2; do
  run "resnet50-ort-fp32-$round" bench backend --model .cache/models/bench/resnet50-onnx --batch-sizes 8,16 \
    --threads 2 --seconds 5 --csv "$out/resnet50-ort-fp32-$round.csv"
  run "resnet50-torch-bf16-$round" bench backend --model .cache/models/bench/resnet50-torch --precision bf16 \
    --batch-sizes 8,16 --threads 2 --seconds 5 --csv "$out/resnet50-torch-bf16-$round.csv"
  run "resnet50-torch-fp32-$round" bench backend --model .cache/models/bench/resnet50-torch --precision fp32 \
    --batch-sizes 8 --threads 2 --seconds 5 --csv "$out/resnet50-torch-fp32-$round.csv"
done

# 2. End to end against the limit (cores / (decode alone + raw inference)), and latency at 25..90 % of the maximum.
run mobilenetv2-int8-e2e bench e2e --model "$mnv2/mobilenetv2-12-int8.onnx" --preprocess imagenet \
  --labels "$mnv2/imagenet_classes.txt" --images "$shared/images" --frames 1500 --csv "$out/mobilenetv2-int8-e2e.csv"
run mobilenetv2-int8-e2e-continuous bench e2e --model "$mnv2/mobilenetv2-12-int8.onnx" --preprocess imagenet \
  --labels "$mnv2/imagenet_classes.txt" --images "$shared/images" --frames 1500 --loads 50 \
  --mode continuous --max-batch 16 --max-delay 20ms --csv "$out/mobilenetv2-int8-e2e-continuous.csv"
run resnet50-ort-fp32-e2e bench e2e --model .cache/models/bench/resnet50-onnx --images "$shared/images" \
  --frames 300 --loads 50 --max-batch 8 --csv "$out/resnet50-ort-fp32-e2e.csv"
run resnet50-torch-bf16-e2e bench e2e --model .cache/models/bench/resnet50-torch --precision bf16 \
  --images "$shared/images" --frames 600 --loads 50 --max-batch 8 --memory-budget 2GiB \
  --csv "$out/resnet50-torch-bf16-e2e.csv"

# 3. Small frames: the Fashion-MNIST main job, and its latency in both modes.
REPEAT=5 bash bench/main_job.sh | tee "$out/main-job.txt"
run fashion-e2e bench e2e --model .cache/models/fashion-mnist --idx "$fashion_idx" --frames 50000 --loads 50 \
  --csv "$out/fashion-e2e.csv"
run fashion-e2e-continuous bench e2e --model .cache/models/fashion-mnist --idx "$fashion_idx" --frames 50000 \
  --loads 50 --mode continuous --max-batch 64 --max-delay 5ms --csv "$out/fashion-e2e-continuous.csv"

# 4. The sweep: executors x cores, like Spark's "scaling with cores per executor".
run fashion-sweep bench sweep --model .cache/models/fashion-mnist --idx "$fashion_idx" --frames 30000 \
  --executors 1,2 --cores 1,2 --csv "$out/fashion-sweep.csv" --svg "$out/fashion-sweep.svg"
echo "results in $out/"
