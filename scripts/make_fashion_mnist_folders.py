#!/usr/bin/env python3
"""Writes Fashion-MNIST from Debian's dataset-fashion-mnist as image folders lowbit reads:
  OUT/test/<k>_<class>/NNNN.png    the 10,000 test images
  OUT/calib/<k>_<class>/NNNN.png   the first 100 *training* images of each class (1,000)
Folder names start with the label index so their sorted order is the label order.
usage: /usr/bin/python3 scripts/make_fashion_mnist_folders.py OUT"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

SRC = "/usr/share/datasets/fashion-mnist"
CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
           "bag", "ankle_boot"]


def load(prefix):
    with gzip.open(os.path.join(SRC, prefix + "-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(SRC, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def write(out, images, labels, per_class=None):
    counts = [0] * 10
    tmp = out + ".partial"
    for i, (img, label) in enumerate(zip(images, labels)):
        if per_class is not None and counts[label] >= per_class:
            continue
        d = os.path.join(tmp, f"{label}_{CLASSES[label]}")
        os.makedirs(d, exist_ok=True)
        Image.fromarray(img, "L").save(os.path.join(d, f"{i:05d}.png"))
        counts[label] += 1
    os.rename(tmp, out)  # all or nothing
    return sum(counts)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for split, prefix, per_class in [("test", "t10k", None), ("calib", "train", 100)]:
        dst = os.path.join(out, split)
        if os.path.isdir(dst):
            continue
        os.makedirs(out, exist_ok=True)
        images, labels = load(prefix)
        n = write(dst, images, labels, per_class)
        print(f"wrote {n} images to {dst}")


if __name__ == "__main__":
    main()
