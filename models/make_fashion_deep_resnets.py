#!/usr/bin/env python3
"""Trains CIFAR-family ResNets of growing depth (He et al. 2015: 6n+2 layers, 16/32/64 channels,
option-A shortcuts as a strided Slice plus a zero channel Pad, BatchNorm folded by the exporter)
on Fashion-MNIST's 60,000 training images (Debian's dataset-fashion-mnist) with Debian's
python3-torch on CPU, and exports them as users do (torch.onnx.export, opset 13, dynamic batch).
They stand in for the deeper pretrained CIFAR ResNets (44, 56 layers) that cannot be had here:
the fine-tune's defaults are checked on networks of the same family nobody tuned them on.

  /usr/bin/python3 models/make_fashion_deep_resnets.py [--depths 44] [--epochs 3] [--out models/generated]

Input [N,1,28,28] float (pixel/255, mean 0.2860, std 0.3530); output [N,10] logits. Writes
fashion_resnet<depth>.onnx and fashion_resnets.json (float top-1 on the 10,000 test images).
Deterministic: fixed seeds.
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_fashion_models import MEAN, STD, BasicBlock, evaluate, load_normalised, train


class CifarResNet(nn.Module):
    def __init__(self, depth):
        super().__init__()
        assert (depth - 2) % 6 == 0, "depth must be 6n+2"
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1, option_a=True))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depths", default="44")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    xtr, ytr, xte, yte = load_normalised()
    os.makedirs(args.out, exist_ok=True)
    summary_path = os.path.join(args.out, "fashion_resnets.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    for depth in (int(d) for d in args.depths.split(",")):
        torch.manual_seed(depth)
        model = CifarResNet(depth)
        t0 = time.time()
        print(f"fashion_resnet{depth}: training {args.epochs} epochs", flush=True)
        train(model, xtr, ytr, args.epochs, seed=depth)
        top1 = evaluate(model, xte, yte)
        name = f"fashion_resnet{depth}"
        path = os.path.join(args.out, name + ".onnx")
        model.eval()
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        summary[name] = {"file": name + ".onnx", "depth": depth, "pytorch_top1": top1, "epochs": args.epochs,
                         "seconds": round(time.time() - t0), "mean": MEAN, "std": STD}
        print(f"{name}: top-1 {top1:.2f} ({time.time() - t0:.0f} s) -> {path}", flush=True)
        with open(summary_path, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
