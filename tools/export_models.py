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


def write_bundle(out_root, name, kind, model_file, backend, extra, save, force):
    """One bundle <name>-<kind>: bundle.yaml, then the model file, written by save(path). Cached
    when the model file exists (it is renamed into place last, so a half-written bundle never counts)."""
    bundle_dir = os.path.join(out_root, f"{name}-{kind}")
    model_path = os.path.join(bundle_dir, model_file)
    if os.path.exists(model_path) and not force:
        print(f"{name}-{kind}: cached in {bundle_dir}")
        return
    os.makedirs(bundle_dir, exist_ok=True)
    with open(os.path.join(bundle_dir, "bundle.yaml"), "w") as f:
        f.write(bundle_yaml(name, backend, model_file, extra))
    tmp = model_path + ".tmp"
    with torch.no_grad():
        save(tmp)
    os.replace(tmp, model_path)
    print(f"{name}-{kind}: written to {bundle_dir}")


def export(name, out_root, force):
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None).eval()
    example = torch.zeros(1, 3, 224, 224)
    write_bundle(out_root, name, "onnx", "model.onnx", "onnxruntime", "",
                 lambda path: torch.onnx.export(net, example, path, input_names=["input"], output_names=["logits"],
                                                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                                                opset_version=13),
                 force)
    write_bundle(out_root, name, "torch", "model.pt", "torch", "precision: auto\n",
                 lambda path: torch.jit.save(torch.jit.trace(net, example), path), force)


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
