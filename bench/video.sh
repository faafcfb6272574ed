#!/usr/bin/env bash
# Video benchmark: a 1080p H.264 clip at 30 frames/s (made here by ffmpeg from the shared photos, panning so
# every picture differs), classified by the fp32 MobileNetV2 at every picture and at fps=5, against
#   - FFmpeg's decode alone:   ffmpeg -benchmark -threads 1 -i CLIP -f null -
#   - the hand-built pipeline: ffmpeg -threads 1 -i CLIP -f image2pipe -vcodec mjpeg - | sluice send --to serve -
# Reports frames/s (wall) and CPU time per frame of every process involved (user + system, from
# /proc/PID/stat for serve, from rusage for the ffmpeg | send pipeline), model loading excluded.
#   SECONDS_PER_PHOTO=2 bash bench/video.sh          (default: 2 s per photo, 10 s, 300 pictures)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$(realpath "${SLUICE_BUILD_DIR:-build}/sluice")
shared=${SLUICE_SHARED:-$root/../shared}
model=$shared/models/mobilenetv2-12-fp32
per_photo=${SECONDS_PER_PHOTO:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

# 1. The clip: the photos fitted into 2112x1188, 30 frames/s, then a 1920x1080 window panning across them.
i=0
for p in dog eagle giraffe horses person person; do cp "$shared/images/$p.jpg" "$work/$(printf %02d $i).jpg"; i=$((i + 1)); done
frames=$((5 * per_photo * 30))
ffmpeg -nostdin -loglevel error -y -framerate "1/$per_photo" -i "$work/%02d.jpg" \
  -vf "scale=2112:1188:force_original_aspect_ratio=decrease,pad=2112:1188:(ow-iw)/2:(oh-ih)/2,format=yuv420p" \
  -r 30 -frames:v "$frames" -c:v libx264 -preset veryfast -crf 12 "$work/big.mp4"
ffmpeg -nostdin -loglevel error -y -i "$work/big.mp4" -vf "crop=1920:1080:x='(iw-ow)*(t/$per_photo-floor(t/$per_photo))':y='(ih-oh)/2'" \
  -c:v libx264 -preset veryfast -crf 18 -g 30 "$work/clip.mp4"
clip=$work/clip.mp4
counted=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
[ "$counted" = "$frames" ] || { echo "clip has $counted pictures, expected $frames" >&2; exit 1; }

cpu_of() { awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_lines() {  # file count timeout_s
  local deadline=$((SECONDS + $3))
  while [ "$(wc -l < "$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $2 lines in $1" >&2; return 1; }
    sleep 0.02
  done
}
serve_args=(serve --model "$model/mobilenetv2-12-fp32.onnx" --labels "$model/imagenet_classes.txt" --preprocess imagenet
  --top-k 1 --batch-interval 200ms --block-interval 50ms --memory-budget 2GiB --quiet)

# 2. FFmpeg's decode alone, one thread (as sluice's decoder by default).
ffmpeg -nostdin -benchmark -threads 1 -i "$clip" -f null - 2> "$work/decode.txt" >/dev/null
decode_cpu=$(awk -F'[= s]+' '/bench: utime/ {print $3 + $5}' "$work/decode.txt")
decode_wall=$(awk -F'[= s]+' '/bench: utime/ {print $7}' "$work/decode.txt")

# 3. sluice: the video source. Timing starts once the model is loaded (the http port answers).
run_source() {  # query expected_lines
  local out=$work/source.jsonl port http
  rm -f "$out"; port=$(free_port)
  "$bin" "${serve_args[@]}" --http "127.0.0.1:$port" --listen "127.0.0.1:$(free_port)" --output "$out" \
    --source "video:$clip$1" &
  local pid=$!
  until curl -s "http://127.0.0.1:$port/api/status" >/dev/null 2>&1; do sleep 0.01; done
  # The source starts with the pipeline, just before the http port answers: the frames it stored by
  # then are left out of the count.
  local c0 t0 c1 t1 r0
  c0=$(cpu_of $pid); t0=$(date +%s.%N)
  r0=$(curl -s "http://127.0.0.1:$port/api/status" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"]["received"])')
  wait_lines "$out" "$2" 600
  t1=$(date +%s.%N); c1=$(cpu_of $pid)
  kill -TERM $pid; wait $pid
  awk -v n="$(($2 - r0))" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
    'BEGIN {printf "%.1f %.2f %.1f\n", n / (t1 - t0), (c1 - c0) * 1000 / n, t1 - t0}'
}
# 4. The hand-built pipeline into serve --listen.
run_pipe() {  # ffmpeg_filter expected_lines
  local out=$work/pipe.jsonl port http
  rm -f "$out"; port=$(free_port); http=$(free_port)
  "$bin" "${serve_args[@]}" --http "127.0.0.1:$http" --listen "127.0.0.1:$port" --output "$out" &
  local pid=$!
  until curl -s "http://127.0.0.1:$http/api/status" >/dev/null 2>&1; do sleep 0.01; done
  local c0 t0 c1 t1
  c0=$(cpu_of $pid); t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/pipe.time" sh -c \
    "ffmpeg -nostdin -loglevel error -threads 1 -i '$clip' $1 -f image2pipe -vcodec mjpeg -q:v 2 - | '$bin' send --to 127.0.0.1:$port - >/dev/null"
  wait_lines "$out" "$2" 600
  t1=$(date +%s.%N); c1=$(cpu_of $pid)
  kill -TERM $pid; wait $pid
  awk -v n="$2" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v pipe="$(cat "$work/pipe.time")" \
    'BEGIN {split(pipe, p, " "); printf "%.1f %.2f %.1f %.2f\n", n / (t1 - t0), (c1 - c0 + p[1] + p[2]) * 1000 / n, t1 - t0, (p[1] + p[2]) * 1000 / n}'
}
sampled=$((5 * per_photo * 5))
read -r all_fps all_cpu all_wall <<< "$(run_source "" "$frames")"
read -r exact_fps exact_cpu exact_wall <<< "$(run_source "?prescale=0" "$frames")"
read -r s5_fps s5_cpu s5_wall <<< "$(run_source "?fps=5" "$sampled")"
read -r pall_fps pall_cpu pall_wall pall_prod <<< "$(run_pipe "" "$frames")"
read -r p5_fps p5_cpu p5_wall p5_prod <<< "$(run_pipe "-vf fps=5" "$sampled")"

echo "CPU: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) CPUs; clip: 1920x1080 H.264 30 fps, $frames pictures ($((5 * per_photo)) s)"
echo
echo "| workload | classified frames/s (wall) | CPU ms per classified frame | CPU vs the hand-built pipeline | wall s |"
echo "|---|---|---|---|---|"
awk -v c="$decode_cpu" -v w="$decode_wall" -v n="$frames" 'BEGIN {printf "| FFmpeg decode alone, 1 thread (every picture, no model) | %.0f | %.2f | | %.2f |\n", n / w, c * 1000 / n, w}'
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "| sluice video source, every picture | $all_fps | $all_cpu | $(ratio "$all_cpu" "$pall_cpu") | $all_wall |"
echo "| sluice video source, every picture, prescale=0 | $exact_fps | $exact_cpu | $(ratio "$exact_cpu" "$pall_cpu") | $exact_wall |"
echo "| ffmpeg → MJPEG → sluice send → serve, every picture | $pall_fps | $pall_cpu (ffmpeg + send: $pall_prod) | 1 | $pall_wall |"
echo "| sluice video source, fps=5 ($sampled of $frames pictures) | $s5_fps | $s5_cpu | $(ratio "$s5_cpu" "$p5_cpu") | $s5_wall |"
echo "| ffmpeg -vf fps=5 → MJPEG → sluice send → serve | $p5_fps | $p5_cpu (ffmpeg + send: $p5_prod) | 1 | $p5_wall |"
