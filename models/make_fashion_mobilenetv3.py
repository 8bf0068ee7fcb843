#!/usr/bin/env python3
"""Trains a MobileNetV3-style network (Howard et al. 2019: inverted residuals with 3x3 and 5x5
depthwise convolutions, squeeze-excite gates closed by a hard sigmoid, h-swish activations, a
hidden fully connected layer before the classifier) on Fashion-MNIST's 60,000 training images
(Debian's dataset-fashion-mnist) with Debian's python3-torch on CPU, and exports it as users do
(torch.onnx.export, opset 13, dynamic batch: h-swish is written as x * HardSigmoid(x)).
It is the hard case of 8-bit post-training quantization: gates multiply features, and h-swish
outputs are signed and skewed.

  /usr/bin/python3 models/make_fashion_mobilenetv3.py [--epochs 3] [--out models/generated] [--seed S]

Input [N,1,28,28] float (pixel/255, mean 0.2860, std 0.3530); output [N,10] logits. Writes
fashion_mobilenetv3.onnx and fashion_mobilenetv3.json (float top-1 on the 10,000 test images);
with --seed S other than 0, fashion_mobilenetv3_seedS.*: the same network trained from another
initialisation and image order, to check that a quantization result is not one network's luck.
Deterministic: fixed seeds.
"""
import argparse
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_fashion_models import MEAN, STD, load_normalised, train_and_export


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.reduce = nn.Conv2d(c, max(8, c // 4), 1)
        self.expand = nn.Conv2d(max(8, c // 4), c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.expand(F.relu(self.reduce(s))))


class Bneck(nn.Module):
    def __init__(self, cin, hidden, cout, kernel, stride, se, hswish):
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        layers = []
        if hidden != cin:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
                   nn.BatchNorm2d(hidden), act()]
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class FashionMobileNetV3(nn.Module):
    # (kernel, hidden, out, squeeze-excite, h-swish, stride): MobileNetV3-Small's pattern, narrowed.
    CONFIG = [(3, 16, 16, True, False, 2), (3, 64, 24, False, False, 2), (3, 72, 24, False, False, 1),
              (5, 96, 40, True, True, 1), (5, 120, 40, True, True, 1), (5, 144, 48, True, True, 1)]

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        blocks, cin = [], 16
        for k, hidden, cout, se, hs, s in self.CONFIG:
            blocks.append(Bneck(cin, hidden, cout, k, s, se, hs))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(cin, 288, 1, bias=False), nn.BatchNorm2d(288), nn.Hardswish())
        self.fc1 = nn.Linear(288, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc2(F.hardswish(self.fc1(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(args.seed)
    name = "fashion_mobilenetv3" + (f"_seed{args.seed}" if args.seed else "")
    acc = train_and_export(name, FashionMobileNetV3(), load_normalised(), args.epochs,
                           os.path.join(args.out, name + ".onnx"), args.seed)
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump({"file": name + ".onnx", "pytorch_top1": round(acc, 2), "epochs": args.epochs, "seed": args.seed,
                   "torch": torch.__version__, "input": [-1, 1, 28, 28], "mean": MEAN, "std": STD}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
