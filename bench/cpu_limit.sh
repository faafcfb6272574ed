#!/usr/bin/env bash
# Issue 12's measurements on whatever CPU runs it, each a ratio within one run (BENCHMARKS.md,
# "Against the machine's limit"):
#   1. decode + exact preprocessing against libjpeg-turbo decode alone      (sluice bench decode)
#   2. sluice end to end against the machine's limit, cores / (decode alone + raw inference core-ms)
#                                                                            (sluice bench e2e)
#   3. sluice end to end against the plain serial loop a user would write   (bench/serial_loop.cc)
#   4. the thread plan: executors x cores swept, the default plan among them (sluice bench sweep)
#   5. small frames: the Fashion-MNIST main job against ONNX Runtime alone at batch 64 (main_job.sh)
#   bash bench/cpu_limit.sh            # writes text, CSV, SVG and logs to $OUT (default: bench-results/cpu-limit)
# Needs scripts/setup.sh, scripts/train-models.sh and ../shared (the MobileNetV2 models and the
# photographs). Run it on a quiet machine: about 10 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SLUICE_BUILD_DIR:-build}
bin=$build/sluice
out=${OUT:-bench-results/cpu-limit}
shared=${SLUICE_SHARED:-../shared}
images=$shared/images
mkdir -p "$out"
run() {  # name, then the command; stdout to $out/name.txt, progress to $out/name.log
  local name=$1
  shift
  echo "== $name: $*" | tee -a "$out/commands.txt"
  "$@" >"$out/$name.txt" 2>"$out/$name.log"
  cat "$out/$name.txt"
}

{
  echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  grep -o -w 'avx2\|fma\|avx512f\|avx512bw\|avx512_vnni\|avx_vnni\|avx512_bf16\|amx_bf16\|amx_int8' /proc/cpuinfo |
    sort -u | tr '\n' ' '
  echo
} | tee "$out/machine.txt"

for precision in int8 fp32; do
  model=$shared/models/mobilenetv2-12-$precision
  onnx=$model/mobilenetv2-12-$precision.onnx
  labels=$model/imagenet_classes.txt
  # 1. Preprocessing against decoding (one model is enough: the preprocessing is the same).
  if [ "$precision" = int8 ]; then
    run decode "$bin" bench decode --model "$onnx" --preprocess imagenet --labels "$labels" --images "$images" \
      --seconds 10 --simd all --csv "$out/decode.csv"
  fi
  # 2. End to end against the limit, with the default plan.
  run "e2e-$precision" "$bin" bench e2e --model "$onnx" --preprocess imagenet --labels "$labels" --images "$images" \
    --frames 1200 --loads 50 --csv "$out/e2e-$precision.csv"
  # 3. The plain serial loop: OpenCV + ONNX Runtime at batch 8 on every core.
  run "serial-loop-$precision" "$build/bench/sluice_serial_loop" --model "$onnx" --images "$images" --batch 8 \
    --seconds 10
done

# 4. The thread plan on the int8 model (executors x cores; "auto" is the default plan).
model=$shared/models/mobilenetv2-12-int8
run sweep "$bin" bench sweep --model "$model/mobilenetv2-12-int8.onnx" --preprocess imagenet \
  --labels "$model/imagenet_classes.txt" --images "$images" --frames 900 --executors 1,2 --cores 1,2 \
  --max-batches 8,32 --csv "$out/sweep.csv" --svg "$out/sweep.svg"

# 5. Small frames.
REPEAT=5 SLUICE_BUILD_DIR=$build run main-job bash bench/main_job.sh

echo
echo "== summary"
for precision in int8 fp32; do
  e2e=$(awk '/^e2e max \/ limit:/ {print $6}' "$out/e2e-$precision.txt" | tr -d '(')
  limit=$(sed -n 's/^e2e max \/ limit: //p' "$out/e2e-$precision.txt")
  loop=$(sed -n 's/^images_per_second=//p' "$out/serial-loop-$precision.txt")
  echo "mobilenetv2-12-$precision: e2e / limit $limit; serial loop $loop images/s;" \
    "e2e / serial loop $(awk -v a="$e2e" -v b="$loop" 'BEGIN {printf "%.2f", a / b}')"
done
