#!/usr/bin/env bash
# Scale-out on Redis Streams against the single-process pipeline, same frames, same machine, same run.
#   baseline   sluice serve: one process, 2 executors x 1 core
#   1 worker   sluice ingest -> redis-server -> sluice worker (2 executors x 1 core) -> results in Redis
#   2 workers  the same with two workers of 1 executor x 1 core each (the same 2 inference threads)
#   ingest     sluice ingest into Redis alone, no worker: the rate frames enter Redis
# Throughput runs from the producer's first frame (once it has encoded its PNGs) to the moment the
# last result exists (the
# output file's last line for serve; `sluice results --wait N` for Redis). CPU time per frame is
# read from /proc for every process (sluice, redis-server), so the Redis hop's cost is measured,
# not guessed. Redis runs without persistence here (--appendonly no); see docs/deployment.md for
# what AOF costs. Prints the figures and Markdown rows for BENCHMARKS.md.
#   bash bench/redis_scaleout.sh                 # 50,000 Fashion-MNIST PNG frames per run
#   REPEAT=2 bash bench/redis_scaleout.sh        # 20,000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$(realpath "${SLUICE_BUILD_DIR:-build}/sluice")
model=${MODEL:-.cache/models/fashion-mnist}
images=${IMAGES:-/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz}
repeat=${REPEAT:-5}
frames=$((repeat * 10000))
partitions=4
redis_server=${REDIS_SERVER:-/usr/bin/redis-server}
engine=(--model "$model" --batch-interval 100ms --block-interval 25ms)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}
now() { date +%s.%N; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
# Starts the producer in the background; returns once it has loaded (and PNG-encoded) its frames,
# which is when it starts sending: the clock starts there.
start_send() {
  : >"$work/send.err"
  "$bin" send --to "127.0.0.1:$1" --connections 4 --repeat "$repeat" "$images" >/dev/null 2>"$work/send.err" &
  send_pid=$!
  until grep -q '^loaded' "$work/send.err"; do sleep 0.005; done
}
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

start_redis() {
  redis_port=$(free_port)
  mkdir -p "$work/redis-$redis_port"
  "$redis_server" --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis-$redis_port" --save "" \
    --appendonly no >"$work/redis-$redis_port.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  wait_port "$redis_port"
  url=redis://127.0.0.1:$redis_port
}

# The single-process pipeline.
run_serve() {
  local port out
  port=$(free_port)
  out=$work/serve.jsonl
  "$bin" serve --listen "127.0.0.1:$port" "${engine[@]}" --executors 2 --cores 1 --output "$out" \
    --quiet 2>"$work/serve.log" &
  local pid=$!
  pids+=("$pid")
  wait_port "$port"
  local cpu0 t0 t1
  start_send "$port"
  cpu0=$(cpu_s "$pid")
  t0=$(now)
  until [ "$(wc -l <"$out")" -ge "$frames" ]; do sleep 0.02; done
  t1=$(now)
  wait "$send_pid"
  serve_cpu=$(awk -v a="$(cpu_s "$pid")" -v b="$cpu0" 'BEGIN {print a - b}')
  stop "$pid"
  serve_fps=$(awk -v n="$frames" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
}

# ingest + N workers (each `executors` x 1 core), on a fresh Redis.
run_redis() {
  local workers=$1 executors=$2
  start_redis
  local port
  port=$(free_port)
  local common=(--redis "$url" --partitions "$partitions")
  "$bin" ingest --listen "127.0.0.1:$port" "${common[@]}" --quiet 2>"$work/ingest.log" &
  local ingest=$!
  pids+=("$ingest")
  local wpids=()
  for i in $(seq 1 "$workers"); do
    "$bin" worker "${common[@]}" --consumer "w$i" "${engine[@]}" --executors "$executors" --cores 1 --quiet \
      2>"$work/worker$i.log" &
    wpids+=($!)
    pids+=($!)
  done
  wait_port "$port"
  sleep 1  # the workers load their models and create the group
  local cpu_i cpu_r t0 t1 cpu_w=0
  start_send "$port"
  cpu_i=$(cpu_s "$ingest")
  cpu_r=$(cpu_s "$redis_pid")
  declare -A cpu_w0
  for w in "${wpids[@]}"; do cpu_w0[$w]=$(cpu_s "$w"); done
  t0=$(now)
  "$bin" results "${common[@]}" --distinct --wait "$frames" --timeout 600s --poll 20ms >/dev/null
  t1=$(now)
  wait "$send_pid"
  ingest_cpu=$(awk -v a="$(cpu_s "$ingest")" -v b="$cpu_i" 'BEGIN {print a - b}')
  redis_cpu=$(awk -v a="$(cpu_s "$redis_pid")" -v b="$cpu_r" 'BEGIN {print a - b}')
  for w in "${wpids[@]}"; do
    cpu_w=$(awk -v s="$cpu_w" -v a="$(cpu_s "$w")" -v b="${cpu_w0[$w]}" 'BEGIN {print s + a - b}')
  done
  worker_cpu=$cpu_w
  for w in "${wpids[@]}"; do stop "$w"; done
  stop "$ingest"
  stop "$redis_pid"
  redis_fps=$(awk -v n="$frames" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
}

# Frames into Redis with no worker: the ingest hop alone.
run_ingest_only() {
  start_redis
  local port
  port=$(free_port)
  "$bin" ingest --listen "127.0.0.1:$port" --redis "$url" --partitions "$partitions" --max-backlog 1000000 \
    --max-stream-length 1000000 --stream-maxlen 2000000 --quiet 2>"$work/ingest-only.log" &
  local ingest=$!
  pids+=("$ingest")
  wait_port "$port"
  local t0 t1 cpu_i cpu_r
  start_send "$port"
  cpu_i=$(cpu_s "$ingest")
  cpu_r=$(cpu_s "$redis_pid")
  t0=$(now)
  local len=0
  until [ "$len" -ge "$frames" ]; do
    len=0
    for p in $(seq 0 $((partitions - 1))); do
      len=$((len + $(redis-cli -p "$redis_port" XLEN "sluice:frames:{$p}")))
    done
    [ "$len" -ge "$frames" ] || sleep 0.02
  done
  t1=$(now)
  wait "$send_pid"
  only_ingest_cpu=$(awk -v a="$(cpu_s "$ingest")" -v b="$cpu_i" 'BEGIN {print a - b}')
  only_redis_cpu=$(awk -v a="$(cpu_s "$redis_pid")" -v b="$cpu_r" 'BEGIN {print a - b}')
  only_redis_mem=$(redis-cli -p "$redis_port" INFO memory | awk -F: '/^used_memory:/ {printf "%.0f", $2 / 1048576}')
  stop "$ingest"
  stop "$redis_pid"
  ingest_fps=$(awk -v n="$frames" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
}

us_per_frame() { awk -v c="$1" -v n="$frames" 'BEGIN {printf "%.1f", c * 1e6 / n}'; }

echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg);" \
  "$frames Fashion-MNIST PNG frames per run (~520 B each), 4 producer connections"
run_serve
echo "serve (single process, 2 executors x 1 core): $serve_fps frames/s; CPU $(us_per_frame "$serve_cpu") us/frame"
run_redis 1 2
w1_fps=$redis_fps
w1_cpu=$(awk -v a="$ingest_cpu" -v b="$redis_cpu" -v c="$worker_cpu" 'BEGIN {print a + b + c}')
echo "redis, 1 worker (2 executors x 1 core): $w1_fps frames/s; CPU us/frame: ingest $(us_per_frame "$ingest_cpu")," \
  "redis-server $(us_per_frame "$redis_cpu"), worker $(us_per_frame "$worker_cpu"), total $(us_per_frame "$w1_cpu")"
w1_redis_us=$(us_per_frame "$redis_cpu")
w1_ingest_us=$(us_per_frame "$ingest_cpu")
w1_worker_us=$(us_per_frame "$worker_cpu")
run_redis 2 1
w2_fps=$redis_fps
w2_cpu=$(awk -v a="$ingest_cpu" -v b="$redis_cpu" -v c="$worker_cpu" 'BEGIN {print a + b + c}')
echo "redis, 2 workers (1 executor x 1 core each): $w2_fps frames/s; CPU us/frame: ingest $(us_per_frame "$ingest_cpu")," \
  "redis-server $(us_per_frame "$redis_cpu"), workers $(us_per_frame "$worker_cpu"), total $(us_per_frame "$w2_cpu")"
run_ingest_only
echo "ingest only, no worker: $ingest_fps frames/s into Redis; CPU us/frame: ingest $(us_per_frame "$only_ingest_cpu")," \
  "redis-server $(us_per_frame "$only_redis_cpu"); Redis memory ${only_redis_mem} MiB for $frames frames"

serve_us=$(us_per_frame "$serve_cpu")
w1_us=$(us_per_frame "$w1_cpu")
w2_us=$(us_per_frame "$w2_cpu")
hop_us=$(awk -v a="$w1_us" -v b="$serve_us" 'BEGIN {printf "%.1f", a - b}')
# Frames per CPU-second: throughput with the machine's contention taken out (a shared machine gives
# a process a share of the cores, and more processes a larger share).
per_cpu() { awk -v u="$1" 'BEGIN {printf "%.0f", 1e6 / u}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "| configuration (same run) | frames/s | CPU per frame, all processes | frames per CPU-second | ratio to serve: frames/s | ratio to serve: per CPU-second |"
echo "|---|---|---|---|---|---|"
echo "| sluice serve, 2 executors x 1 core (baseline) | $serve_fps | $serve_us us | $(per_cpu "$serve_us") | 1.00 | 1.00 |"
echo "| ingest + Redis + 1 worker (2 executors x 1 core) | $w1_fps | $w1_us us (ingest $w1_ingest_us, redis-server $w1_redis_us, worker $w1_worker_us) | $(per_cpu "$w1_us") | $(ratio "$w1_fps" "$serve_fps") | $(ratio "$serve_us" "$w1_us") |"
echo "| ingest + Redis + 2 workers (1 executor x 1 core each) | $w2_fps | $w2_us us | $(per_cpu "$w2_us") | $(ratio "$w2_fps" "$serve_fps") | $(ratio "$serve_us" "$w2_us") |"
echo "| ingest into Redis alone (no worker) | $ingest_fps | $(us_per_frame "$(awk -v a="$only_ingest_cpu" -v b="$only_redis_cpu" 'BEGIN {print a + b}')") us (ingest $(us_per_frame "$only_ingest_cpu"), redis-server $(us_per_frame "$only_redis_cpu")) | | | |"
echo
echo "Redis hop: +$hop_us us of CPU per frame (1 worker against serve); redis-server alone: $w1_redis_us us per frame," \
  "so one Redis core tops out near $(per_cpu "$w1_redis_us") frames/s of this size."
