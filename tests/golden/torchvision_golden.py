#!/usr/bin/python3
"""Golden tensors for sluice's preprocessing, made by torchvision + Pillow at test time.

Writes the test inputs (the shared photographs are used where they are, synthetic images are made
here and saved as PNG/JPEG), then for each case the reference pipeline's output:
  <case>.f32     the float32 tensor (C x H x W), as the model receives it
  <case>.u8      the uint8 pixels (H x W x C) just before ToTensor
  <case>.dec     the decoded image as Pillow converts it (H x W x C uint8), before any resize
and manifest.json, which also reports each case's geometry (resized size, crop box).

Pipelines:
  imagenet   Image.open(p).convert('RGB') -> Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize
  fashion    Image.open(p).convert('L').resize((28, 28), BILINEAR) -> ToTensor -> Normalize(0.2860, 0.3530)
             (the Fashion-MNIST bundle: color gray, resize stretch 28x28, scale 1/255)
  crop_pad   Image.open(p).convert('RGB') -> CenterCrop(224) -> ToTensor -> Normalize (no resize: an image
             smaller than the crop is padded with zeros by torchvision)

  /usr/bin/python3 tests/golden/torchvision_golden.py --out DIR [--images DIR]
"""
import argparse
import json
import os
import sys

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
FASHION_MEAN, FASHION_STD = [0.2860], [0.3530]


def texture(width, height, channels, seed):
    """Smooth gradients plus noise: every resize tap matters, and rounding differences show."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for c in range(channels):
        fx, fy = rng.uniform(0.01, 0.2, size=2)
        base = 127.5 + 100.0 * np.sin(fx * x + c) * np.cos(fy * y - c)
        planes.append(base + rng.normal(0.0, 25.0, size=(height, width)))
    pixels = np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)
    return pixels[:, :, 0] if channels == 1 else pixels


def synthetic_inputs(folder):
    """(case name, path, pipelines) for each synthetic image; the comment says what it exercises."""
    os.makedirs(folder, exist_ok=True)
    made = []

    def save(name, image, ext, pipelines, **options):
        path = os.path.join(folder, f"{name}.{ext}")
        image.save(path, **options)
        made.append((name, path, pipelines))

    rgb = lambda w, h, seed: Image.fromarray(texture(w, h, 3, seed), "RGB")
    both = ("imagenet", "fashion")
    # Resize(256) gives 341 x 256: crop offset 58.5 rounds half to even, to 58.
    save("landscape_half_down", rgb(683, 512, 1), "png", both)
    # 343 x 256: offset 59.5 rounds to 60.
    save("landscape_half_up", rgb(686, 512, 2), "jpg", both, quality=92)
    # Portrait 256 x 341: offset 58.5 -> 58, on the vertical axis.
    save("portrait_half_down", rgb(300, 400, 3), "png", both)
    # Even remainder (384 - 224 = 160), and upscaling: 200 -> 256.
    save("portrait_upscale_even", rgb(200, 300, 4), "png", both)
    # Upscaling both axes with an odd remainder: 97 x 131 -> 256 x 345, offset 60.5 -> 60.
    save("portrait_upscale_half_down", rgb(97, 131, 5), "jpg", both, quality=95, subsampling=0)
    # The shorter side is already 256: no resize on either axis, crop offset 79.5 -> 80.
    save("no_resize_half_up", rgb(256, 383, 6), "png", ("imagenet",))
    # Strips: 1 x 300 becomes 256 x 76800 in torchvision; 300 x 1 becomes 76800 x 256.
    save("strip_1x300", rgb(1, 300, 7), "png", both)
    save("strip_300x1", rgb(300, 1, 8), "png", both)
    save("single_pixel", rgb(1, 1, 9), "png", both)
    # Pillow modes that convert('RGB') / convert('L') turn into RGB / L.
    save("gray_png", Image.fromarray(texture(320, 240, 1, 10), "L"), "png", both)
    rgba = np.dstack([texture(260, 300, 3, 11), texture(260, 300, 1, 12)])
    save("rgba_png", Image.fromarray(rgba, "RGBA"), "png", both)  # convert drops alpha, no compositing
    la = np.dstack([texture(230, 270, 1, 13), texture(230, 270, 1, 14)])
    save("gray_alpha_png", Image.fromarray(la, "LA"), "png", both)
    save("palette_png", rgb(300, 257, 15).convert("P", palette=Image.ADAPTIVE, colors=200), "png", both)
    palette_trns = rgb(280, 250, 16).convert("P", palette=Image.ADAPTIVE, colors=12)  # 4-bit indices
    save("palette4_trns_png", palette_trns, "png", both, transparency=3)
    save("bilevel_png", Image.fromarray(texture(270, 260, 1, 17) > 127), "png", both)  # mode '1'
    # 16-bit gray opens as mode 'I'; convert clips each value to 0..255.
    wide = (texture(240, 250, 1, 18).astype(np.uint16) * 3).astype(np.uint16)
    save("gray16_png", Image.fromarray(wide, "I;16"), "png", both)
    # JPEG flavours: 4:2:0, 4:2:2, progressive, grayscale, CMYK (Adobe, inverted).
    save("jpeg_420", rgb(500, 375, 19), "jpg", both, quality=85, subsampling=2)
    save("jpeg_422", rgb(375, 500, 20), "jpg", both, quality=90, subsampling=1)
    save("jpeg_progressive", rgb(640, 480, 21), "jpg", both, quality=80, progressive=True)
    save("jpeg_gray", Image.fromarray(texture(400, 300, 1, 22), "L"), "jpg", both, quality=90)
    save("jpeg_cmyk", rgb(330, 280, 23).convert("CMYK"), "jpg", both, quality=90)
    # Fashion-MNIST-sized inputs: 28 x 28 (no resize), and stretching down on one axis, up on the other.
    save("fashion_28_gray", Image.fromarray(texture(28, 28, 1, 24), "L"), "png", ("fashion",))
    save("fashion_28_rgb", rgb(28, 28, 25), "png", ("fashion",))
    save("fashion_60x20", rgb(60, 20, 26), "png", ("fashion",))
    # Smaller than the crop without a resize: torchvision pads with zeros.
    save("pad_100x150", rgb(100, 150, 27), "png", ("crop_pad",))
    save("pad_300x120", rgb(300, 120, 28), "jpg", ("crop_pad",), quality=90)
    return made


def center_crop_box(width, height, crop_w, crop_h):
    """torchvision's CenterCrop geometry as (left, top): zero padding shows as a negative offset."""
    def axis(size, crop):
        if crop > size:
            return -((crop - size) // 2)
        return int(round((size - crop) / 2.0))  # Python's round: half to even
    return axis(width, crop_w), axis(height, crop_h)


def crop_with_padding(pixels, left, top, crop_w, crop_h):
    h, w = pixels.shape[:2]
    out = np.zeros((crop_h, crop_w) + pixels.shape[2:], dtype=pixels.dtype)
    x0, y0 = max(0, -left), max(0, -top)
    x1, y1 = min(crop_w, w - left), min(crop_h, h - top)
    out[y0:y1, x0:x1] = pixels[top + y0:top + y1, left + x0:left + x1]
    return out


def as_hwc(image):
    a = np.array(image, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a


def run_case(name, path, pipeline, out_dir):
    opened = Image.open(path)
    entry = {"name": f"{name}/{pipeline}", "pipeline": pipeline, "input": path, "mode": opened.mode,
             "source_size": list(opened.size)}
    if pipeline == "fashion":
        decoded = opened.convert("L")
        resized = decoded.resize((28, 28), Image.BILINEAR)
        cropped = resized
        entry.update(resized_size=list(resized.size), crop_box=[0, 0, 28, 28])
        mean, std = FASHION_MEAN, FASHION_STD
    else:
        decoded = opened.convert("RGB")
        resized = T.Resize(256)(decoded) if pipeline == "imagenet" else decoded
        cropped = T.CenterCrop(224)(resized)
        left, top = center_crop_box(resized.size[0], resized.size[1], 224, 224)
        # The box reported must be the one torchvision used: check it against its own crop.
        expected = crop_with_padding(as_hwc(resized), left, top, 224, 224)
        if not np.array_equal(expected, as_hwc(cropped)):
            raise SystemExit(f"{name}: the crop box ({left}, {top}) does not reproduce torchvision's crop")
        entry.update(resized_size=list(resized.size), crop_box=[left, top, left + 224, top + 224])
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    tensor = T.Normalize(mean, std)(T.ToTensor()(cropped))
    assert tensor.dtype == torch.float32
    stem = os.path.join(out_dir, entry["name"].replace("/", "."))
    tensor.numpy().tofile(stem + ".f32")
    as_hwc(cropped).tofile(stem + ".u8")
    as_hwc(decoded).tofile(stem + ".dec")
    c, h, w = tensor.shape
    entry.update(channels=c, height=h, width=w, tensor=stem + ".f32", pixels=stem + ".u8",
                 decoded=stem + ".dec", decoded_size=list(decoded.size))
    return entry


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for inputs, tensors and manifest.json")
    parser.add_argument("--images", help="folder of photographs (the shared *.jpg)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cases = []
    if args.images:
        for file in sorted(os.listdir(args.images)):
            if file.endswith(".jpg"):
                stem = os.path.splitext(file)[0]
                cases.append((stem, os.path.join(args.images, file), ("imagenet", "fashion")))
    cases += synthetic_inputs(os.path.join(args.out, "inputs"))
    entries = [run_case(name, path, pipeline, args.out) for name, path, pipelines in cases for pipeline in pipelines]
    manifest = {"pillow": PIL.__version__, "torchvision": torchvision.__version__, "torch": torch.__version__,
                "cases": entries}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(entries)} golden cases in {args.out} (Pillow {PIL.__version__}, torchvision {torchvision.__version__})")


if __name__ == "__main__":
    sys.exit(main())
