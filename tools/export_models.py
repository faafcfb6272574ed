#!/usr/bin/python3
"""Export torchvision models as sluice benchmark bundles: ONNX (onnxruntime) and TorchScript (torch).

Benchmark-only: the models get fresh random weights (weights=None), so their predictions are
meaningless; only their speed is. Each bundle is cached: when its model file exists and --force is
not given, it is skipped.

  /usr/bin/python3 tools/export_models.py --out .cache/models/bench [resnet50 mobilenet_v2 squeezenet1_1]
"""
import argparse
import os
import sys

import torch
import torchvision

MODELS = ["resnet50", "mobilenet_v2", "squeezenet1_1"]


def bundle_yaml(name, backend, model_file, extra):
    return f"""# sluice model bundle: torchvision {name}, exported by tools/export_models.py
# benchmark-only: random weights, predictions meaningless
backend: {backend}
model: {model_file}
input:
  name: input
  shape: [3, 224, 224]      # C, H, W; the batch dimension is dynamic
output:
  name: logits
  kind: logits
{extra}preprocess:
  preset: imagenet          # torchvision standard: shorter side 256, centre crop 224, mean/std
"""


def export(name, out_root, force):
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None).eval()
    example = torch.zeros(1, 3, 224, 224)
    onnx_dir = os.path.join(out_root, f"{name}-onnx")
    onnx_path = os.path.join(onnx_dir, "model.onnx")
    if os.path.exists(onnx_path) and not force:
        print(f"{name}-onnx: cached in {onnx_dir}")
    else:
        os.makedirs(onnx_dir, exist_ok=True)
        with open(os.path.join(onnx_dir, "bundle.yaml"), "w") as f:
            f.write(bundle_yaml(name, "onnxruntime", "model.onnx", ""))
        tmp = onnx_path + ".tmp"
        with torch.no_grad():
            torch.onnx.export(net, example, tmp, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        os.replace(tmp, onnx_path)  # last, so a half-written bundle is never taken as cached
        print(f"{name}-onnx: written to {onnx_dir}")
    torch_dir = os.path.join(out_root, f"{name}-torch")
    torch_path = os.path.join(torch_dir, "model.pt")
    if os.path.exists(torch_path) and not force:
        print(f"{name}-torch: cached in {torch_dir}")
    else:
        os.makedirs(torch_dir, exist_ok=True)
        with open(os.path.join(torch_dir, "bundle.yaml"), "w") as f:
            f.write(bundle_yaml(name, "torch", "model.pt", "precision: auto\n"))
        tmp = torch_path + ".tmp"
        with torch.no_grad():
            traced = torch.jit.trace(net, example)
        torch.jit.save(traced, tmp)
        os.replace(tmp, torch_path)
        print(f"{name}-torch: written to {torch_dir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".cache/models/bench", help="folder of the bundles")
    ap.add_argument("--force", action="store_true", help="export again even if cached")
    ap.add_argument("models", nargs="*", default=MODELS, help=f"models to export (default: {' '.join(MODELS)})")
    args = ap.parse_args()
    for name in args.models:
        if name not in MODELS:
            sys.exit(f"error: unknown model {name}; known: {' '.join(MODELS)}")
        export(name, args.out, args.force)


if __name__ == "__main__":
    main()
