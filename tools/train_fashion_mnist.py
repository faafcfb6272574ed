#!/usr/bin/python3
"""Train a small CNN on Fashion-MNIST and export it as a sluice ONNX model bundle.

Uses only Debian packages: python3-torch and dataset-fashion-mnist. The result is cached: when
OUT/model.onnx already exists and --force is not given, nothing is done.

  /usr/bin/python3 tools/train_fashion_mnist.py --out .cache/models/fashion-mnist --epochs 2
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Normalisation statistics of the training set; the bundle's preprocessing repeats them.
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(DATA, name)
        if os.path.exists(p):
            return p
    sys.exit(f"error: {stem}[.gz] not found in {DATA}; install Debian's dataset-fashion-mnist")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="bundle directory to write")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="retrain even if the bundle exists")
    ap.add_argument("--torch-out", help="also write a TorchScript bundle (backend: torch) of the same net here")
    args = ap.parse_args()
    model_path = os.path.join(args.out, "model.onnx")
    weights_path = os.path.join(args.out, "weights.pt")
    if os.path.exists(model_path) and not args.force:
        print(f"fashion-mnist bundle: cached in {args.out}")
        if not args.torch_out or os.path.exists(os.path.join(args.torch_out, "model.pt")):
            return
        if os.path.exists(weights_path):  # the torch bundle from the saved weights, without retraining
            net = Net()
            net.load_state_dict(torch.load(weights_path))
            write_torch_bundle(net.eval(), args.torch_out, args.out)
            return
        print("fashion-mnist: no saved weights for the torch bundle; retraining")
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    xtr = torch.from_numpy(read_idx(find("train-images-idx3-ubyte")).copy()).float().div_(255).sub_(MEAN).div_(STD)
    ytr = torch.from_numpy(read_idx(find("train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.from_numpy(read_idx(find("t10k-images-idx3-ubyte")).copy()).float().div_(255).sub_(MEAN).div_(STD)
    yte = torch.from_numpy(read_idx(find("t10k-labels-idx1-ubyte")).astype(np.int64))
    xtr, xte = xtr.unsqueeze(1), xte.unsqueeze(1)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = 128
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        t0 = time.time()
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            if (i // batch) % 100 == 0:
                print(f"epoch {epoch + 1}/{args.epochs}  {i:>5}/{len(xtr)}  loss {loss.item():.3f}", flush=True)
        net.eval()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f} ({time.time() - t0:.0f} s)", flush=True)

    os.makedirs(args.out, exist_ok=True)
    tmp = model_path + ".tmp"
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), tmp, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    with open(os.path.join(args.out, "bundle.yaml"), "w") as f:
        f.write(f"""# sluice model bundle: Fashion-MNIST CNN trained by tools/train_fashion_mnist.py
# test accuracy after {args.epochs} epoch(s): {acc:.4f}
backend: onnxruntime
model: model.onnx
labels: labels.txt
input:
  name: input
  shape: [1, 28, 28]        # C, H, W; the batch dimension is dynamic
output:
  name: logits
  kind: logits              # softmax is applied by sluice
preprocess:
  color: gray
  resize: stretch
  resize_to: [28, 28]       # width, height
  scale: {1 / 255:.10f}
  mean: [{MEAN}]
  std: [{STD}]
""")
    torch.save(net.state_dict(), weights_path)
    os.replace(tmp, model_path)  # last, so a half-written bundle is never taken as cached
    print(f"fashion-mnist bundle: written to {args.out} (accuracy {acc:.4f})")
    if args.torch_out:
        write_torch_bundle(net.eval(), args.torch_out, args.out)


def write_torch_bundle(net, out, onnx_out):
    """The same net as a traced TorchScript bundle; labels and preprocessing as in the ONNX bundle."""
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "model.pt")
    tmp = model_path + ".tmp"
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(net, torch.zeros(1, 1, 28, 28)), tmp)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    with open(os.path.join(onnx_out, "bundle.yaml")) as f:
        yaml = f.read()
    yaml = yaml.replace("backend: onnxruntime\nmodel: model.onnx\n", "backend: torch\nmodel: model.pt\nprecision: auto\n")
    with open(os.path.join(out, "bundle.yaml"), "w") as f:
        f.write(yaml.replace("# sluice model bundle: Fashion-MNIST CNN", "# sluice model bundle (TorchScript): Fashion-MNIST CNN", 1))
    os.replace(tmp, model_path)
    print(f"fashion-mnist torch bundle: written to {out}")


if __name__ == "__main__":
    main()
