#!/usr/bin/env bash
# Prepares a Debian 12 machine for sluice: system packages, ONNX Runtime, and a release build.
# Idempotent: a second run installs and downloads nothing, and only rebuilds what changed.
#
#   SLUICE_BUILD_DIR   build folder (default: build)
#   ONNXRUNTIME_ROOT   use this ONNX Runtime (include/ + lib/) instead of provisioning one
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
log() { printf '[setup] %s\n' "$*" >&2; }

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# 1. Debian packages. One list, so the build, tests and tools agree on what exists.
packages=(
  build-essential cmake pkg-config git ca-certificates
  clang-14 libclang-rt-14-dev clang-format
  libgtest-dev libgmock-dev
  libturbojpeg0-dev libpng-dev zlib1g-dev libopencv-core-dev libopencv-imgproc-dev
  libopencv-imgcodecs-dev  # bench/serial_loop.cc: the plain OpenCV + ONNX Runtime loop sluice is compared with
  libhwy-dev  # Google Highway: the preprocessing kernels, dispatched at run time per SIMD target
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev libyaml-cpp-dev
  python3 python3-numpy python3-torch dataset-fashion-mnist
  libtorch-dev python3-torchvision  # the libtorch backend; benchmark models from torchvision
  python3-pil  # the golden preprocessing test (tests/golden): Pillow, as torchvision uses it
  libcpp-httplib-dev libtomlplusplus-dev
  libssl-dev openssl  # TLS (serve --tls-cert, send --tls-ca), SHA-256 of tokens (--tokens); tests make certificates with openssl
  libhiredis-dev redis-server  # scale-out on Redis Streams (sluice ingest/worker/results); tests start redis-server
  prometheus chromium  # tests: promtool checks /metrics; headless Chromium opens the dashboard
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev  # video sources: FFmpeg demuxes and decodes
  ffmpeg  # tests and bench/video.sh make their clips and streams with it
  # tests: GStreamer's RTSP server (tests/video/rtsp_server.py) serves a camera stream
  gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all present"
fi

# 2. ONNX Runtime. Debian has no package; the npm registry carries the official Linux x64 build.
ort_version=0.4.9
ort_root=${ONNXRUNTIME_ROOT:-$root/third_party/onnxruntime}
if [ -f "$ort_root/lib/libonnxruntime.so.1" ] && [ -f "$ort_root/include/onnxruntime_cxx_api.h" ]; then
  log "ONNX Runtime: present in $ort_root"
else
  [ -z "${ONNXRUNTIME_ROOT:-}" ] || { log "ONNXRUNTIME_ROOT=$ONNXRUNTIME_ROOT has no lib/libonnxruntime.so.1"; exit 1; }
  log "ONNX Runtime: fetching com.github.asus4.onnxruntime@$ort_version from the npm registry (~143 MB)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "com.github.asus4.onnxruntime@$ort_version" >/dev/null)
  headers='package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers'
  tar -xzf "$tmp"/*.tgz -C "$tmp" "package/Plugins/Linux/x64" "$headers"
  mkdir -p "$ort_root/lib" "$ort_root/include"
  cp "$tmp/$headers"/*.h "$ort_root/include/"
  cp "$tmp/package/Plugins/Linux/x64/"*.so "$ort_root/lib/"
  ln -sf libonnxruntime.so "$ort_root/lib/libonnxruntime.so.1"
  log "ONNX Runtime: installed in $ort_root"
fi

# 2b. npm packages: uPlot, which the build embeds into the dashboard, and playwright-core for the
# dashboard test. `npm ci` installs exactly the lock file; it is skipped while node_modules matches it.
for dir in web tests/dashboard; do
  stamp="$dir/node_modules/.sluice-lock.sha256"
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "npm packages of $dir: current"
  else
    log "npm packages of $dir: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
done

# 3. Build (release, warnings as errors).
build_dir=${SLUICE_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSLUICE_WERROR=ON -DONNXRUNTIME_ROOT="$ort_root" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
log "built $build_dir/sluice"
