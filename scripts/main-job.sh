#!/usr/bin/env bash
# The main job: set up (idempotent), train the Fashion-MNIST model once, then stream its 10,000
# test images through the pipeline over loopback TCP and report accuracy, frames/s and latency.
# Extra arguments go to `sluice demo` (see `build/sluice demo --help`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/train-models.sh
exec "${SLUICE_BUILD_DIR:-build}/sluice" demo --model .cache/models/fashion-mnist "$@"
