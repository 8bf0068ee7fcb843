#!/usr/bin/env python3
"""Trains lowbit's bundled default models on Fashion-MNIST (Debian's dataset-fashion-mnist) with
Debian's python3-torch on CPU, exports them to ONNX as users do (torch.onnx.export, opset 13,
dynamic batch) and writes their float accuracy to fashion_models.json.

  /usr/bin/python3 models/make_fashion_models.py [--epochs 4] [--out models/]

Models (input [N,1,28,28] float, pixel/255 normalised with mean 0.2860, std 0.3530; output
[N,10] logits):
  fashion_resnet.onnx     ResNet-style: 3 stages of basic residual blocks (16/32/64 channels),
                          1x1 projection shortcuts, BatchNorm (folded by the exporter), GAP, FC.
  fashion_mobilenet.onnx  MobileNetV2-style: inverted residual blocks with depthwise 3x3
                          convolutions and ReLU6 (exported as Clip), GAP, FC.
Deterministic: fixed seeds, single-threaded data order.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    if name.endswith("idx3-ubyte.gz"):
        n, h, w = np.frombuffer(data, ">i4", 3, 4)
        return np.frombuffer(data, np.uint8, n * h * w, 16).reshape(n, 1, h, w)
    n = np.frombuffer(data, ">i4", 1, 4)[0]
    return np.frombuffer(data, np.uint8, n, 8).astype(np.int64)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: a 1x1 projection where the shape changes, or with
    option_a (He et al.'s CIFAR ResNets) a strided subsample padded with zero channels."""

    def __init__(self, cin, cout, stride, option_a=False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad, self.short = stride, 0, None
        if stride != 1 or cin != cout:
            if option_a:
                self.pad = (cout - cin) // 2
            else:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def shortcut(self, x):
        if self.short is not None:
            return self.short(x)
        if self.stride == 1 and self.pad == 0:
            return x
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class FashionResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class FashionMobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 2), InvertedResidual(16, 24, 2, 4), InvertedResidual(24, 24, 1, 4),
            InvertedResidual(24, 32, 2, 4), InvertedResidual(32, 32, 1, 4))
        self.head = nn.Sequential(nn.Conv2d(32, 96, 1, bias=False), nn.BatchNorm2d(96), nn.ReLU6())
        self.fc = nn.Linear(96, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load_normalised():
    """Fashion-MNIST's training and test images (normalised, [N,1,28,28]) and labels."""
    def images(name):
        return (torch.from_numpy(load_idx(name).copy()).float() / 255 - MEAN) / STD
    return (images("train-images-idx3-ubyte.gz"), torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").copy()),
            images("t10k-images-idx3-ubyte.gz"), torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz").copy()))


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            correct += (model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
    return 100.0 * correct / len(x)


def train(model, xtr, ytr, epochs, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = epochs * (len(xtr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=g)
        t0, total = time.time(), 0.0
        for i in range(len(xtr) // 128):
            idx = perm[i * 128:(i + 1) * 128]
            xb = xtr[idx]
            # light augmentation: random horizontal flip
            flip = torch.rand(len(xb), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / (len(xtr) // 128):.4f} ({time.time() - t0:.0f} s)", flush=True)


def train_and_export(name, model, data, epochs, path, seed=0):
    """Trains \p model on the (xtr, ytr, xte, yte) splits (image order and flips from \p seed),
    exports it to \p path as users do (opset 13, dynamic batch) and returns its float top-1 on
    the test images."""
    xtr, ytr, xte, yte = data
    print(f"{name}: training {sum(p.numel() for p in model.parameters())} parameters", flush=True)
    train(model, xtr, ytr, epochs, seed)
    acc = evaluate(model, xte, yte)
    print(f"{name}: float top-1 {acc:.2f}% on the 10,000 test images (PyTorch)", flush=True)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    data = load_normalised()
    results = {}
    for name, cls in [("fashion_resnet", FashionResNet), ("fashion_mobilenet", FashionMobileNet)]:
        torch.manual_seed(0)
        acc = train_and_export(name, cls(), data, args.epochs, os.path.join(args.out, name + ".onnx"))
        results[name] = {"file": name + ".onnx", "pytorch_top1": round(acc, 2), "epochs": args.epochs,
                         "torch": torch.__version__, "input": [-1, 1, 28, 28],
                         "mean": MEAN, "std": STD}
    with open(os.path.join(args.out, "fashion_models.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
