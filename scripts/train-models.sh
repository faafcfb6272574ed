#!/usr/bin/env bash
# Trains (once; cached under .cache/) the models the main job and the tests use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
/usr/bin/python3 tools/train_fashion_mnist.py --out .cache/models/fashion-mnist --epochs 2
