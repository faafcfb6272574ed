#!/usr/bin/env bash
# What TLS costs on photographs: `sluice serve` (MobileNetV2, --preprocess imagenet) fed by
# `sluice send --connections 4 --repeat N` in another process, plaintext and then mutual TLS,
# interleaved ROUNDS times in the same run; frames/s from the first frame sent to the last line
# written, and the ratio TLS / plaintext.
#   bash bench/tls.sh     # MODEL=int8|fp32 (default int8), REPEAT=N (default 200), ROUNDS (default 2)
# Needs scripts/setup.sh (openssl) and ../shared (the MobileNetV2 models and the photographs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${SLUICE_BUILD_DIR:-build}/sluice
shared=${SLUICE_SHARED:-../shared}
model_name=mobilenetv2-12-${MODEL:-int8}
model=$shared/models/$model_name
images=$shared/images
repeat=${REPEAT:-200}
rounds=${ROUNDS:-2}
work=$(mktemp -d)
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A CA, the server's certificate (localhost, 127.0.0.1) and a producer's, as the tests make them.
cert() {  # name, CN
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$1.key" -out "$work/$1.csr" \
    -subj "/CN=$2" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/$1.crt" -days 1 -extfile "$work/$1.ext" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" -out "$work/ca.crt" \
  -days 1 -subj /CN=bench-ca 2>/dev/null
cert server localhost
cert producer producer-1

n_images=$(find "$images" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l)
total=$((n_images * repeat))

run_one() {  # plain|tls; prints frames/s
  local mode=$1 serve_tls=() send_tls=()
  if [ "$mode" = tls ]; then
    serve_tls=(--tls-cert "$work/server.crt" --tls-key "$work/server.key" --tls-ca "$work/ca.crt")
    send_tls=(--tls-ca "$work/ca.crt" --tls-cert "$work/producer.crt" --tls-key "$work/producer.key")
  fi
  rm -f "$work/out.jsonl"
  "$bin" serve --listen 127.0.0.1:0 --model "$model/$model_name.onnx" --labels "$model/imagenet_classes.txt" \
    --preprocess imagenet --output "$work/out.jsonl" --log-level warn "${serve_tls[@]}" 2>"$work/serve-$mode.log" &
  serve_pid=$!
  # Port 0: the port it chose, from ss(8)
  local port=
  for _ in $(seq 600); do
    port=$(ss -ltnpH 2>/dev/null | awk -v pid="pid=$serve_pid," '$0 ~ pid {split($4, a, ":"); print a[2]; exit}')
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "serve did not listen: $(cat "$work/serve-$mode.log")" >&2; exit 1; }
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" send --to "127.0.0.1:$port" --connections 4 --repeat "$repeat" "${send_tls[@]}" "$images" \
    >"$work/send-$mode.txt" 2>"$work/send-$mode.err"
  for _ in $(seq 6000); do
    [ -f "$work/out.jsonl" ] && [ "$(wc -l <"$work/out.jsonl")" -ge "$total" ] && break
    sleep 0.05
  done
  t1=$(date +%s.%N)
  kill -TERM "$serve_pid"
  wait "$serve_pid" || true
  serve_pid=
  local lines
  lines=$(wc -l <"$work/out.jsonl")
  [ "$lines" -ge "$total" ] || { echo "$mode: only $lines of $total lines" >&2; exit 1; }
  awk -v n="$total" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", n / (b - a) }'
}

echo "machine: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model_name, $total frames a run ($n_images photographs x $repeat), send --connections 4"
plain_sum=0
tls_sum=0
for round in $(seq "$rounds"); do
  plain=$(run_one plain)
  tls=$(run_one tls)
  echo "round $round: plaintext $plain frames/s, TLS $tls frames/s"
  plain_sum=$(awk -v s="$plain_sum" -v x="$plain" 'BEGIN { print s + x }')
  tls_sum=$(awk -v s="$tls_sum" -v x="$tls" 'BEGIN { print s + x }')
done
awk -v p="$plain_sum" -v t="$tls_sum" -v r="$rounds" \
  'BEGIN { printf "mean: plaintext %.1f frames/s, TLS %.1f frames/s, TLS/plaintext %.3f\n", p / r, t / r, t / p }'
