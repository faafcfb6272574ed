#!/usr/bin/env bash
# Trains or exports (once; cached under .cache/) the models the main job, the tests and the
# benchmarks use:
#   .cache/models/fashion-mnist        the main job's CNN (ONNX), trained on Fashion-MNIST
#   .cache/models/fashion-mnist-torch  the same net as TorchScript (the bf16 agreement test)
#   .cache/models/bench/resnet50-*     torchvision resnet50, random weights, ONNX and TorchScript
#                                      (benchmark-only; the bf16 logit-agreement test)
# tools/export_models.py with no argument also exports mobilenet_v2 and squeezenet1_1 for `sluice bench`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
/usr/bin/python3 tools/train_fashion_mnist.py --out .cache/models/fashion-mnist --epochs 2 \
  --torch-out .cache/models/fashion-mnist-torch
/usr/bin/python3 tools/export_models.py --out .cache/models/bench resnet50
