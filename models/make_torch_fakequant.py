#!/usr/bin/env python3
"""A fake-quantized (quantization-aware) PyTorch network exported as PyTorch users export one,
for checking that lowbit reads foreign QDQ files as ONNX Runtime does: a small CNN trained on
Fashion-MNIST (Debian's dataset-fashion-mnist) for --epochs, then torch.ao.quantization's QAT
preparation (per-channel int8 weights, u8 activations; ReLU fused into its Conv),
--qat-epochs of fine-tuning with fake quantization, and torch.onnx.export at opset 13: weights
as QuantizeLinear -> DequantizeLinear of float initializers, activations as Q -> DQ pairs.
Prints the fake-quantized model's top-1 on the 10,000 test images as PyTorch computes it.

  /usr/bin/python3 models/make_torch_fakequant.py [--epochs 1] [--qat-epochs 1] [--out models/generated]
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from make_fashion_models import MEAN, STD, load_idx


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.c1, self.r1 = nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU()
        self.c2, self.r2 = nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU()
        self.c3, self.r3 = nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.r3(self.c3(self.r2(self.c2(self.r1(self.c1(x))))))
        return self.dequant(self.fc(torch.flatten(self.pool(x), 1)))


def batches(x, y, size, shuffle, gen):
    order = torch.randperm(len(x), generator=gen) if shuffle else torch.arange(len(x))
    for i in range(0, len(x), size):
        idx = order[i:i + size]
        yield (x[idx].float() / 255 - MEAN) / STD, y[idx]


def train(model, x, y, epochs, lr, gen):
    opt = torch.optim.Adam(model.parameters(), lr)
    model.train()
    for e in range(epochs):
        total = 0.0
        for i, (xb, yb) in enumerate(batches(x, y, 128, True, gen)):
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print(f"  epoch {e + 1}/{epochs}: loss {total / (i + 1):.4f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
    args = ap.parse_args()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz").copy()), torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").copy())
    tx, ty = torch.from_numpy(load_idx("t10k-images-idx3-ubyte.gz").copy()), torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz").copy())
    model = Net()
    print("float training")
    train(model, x, y, args.epochs, 1e-3, gen)
    model.eval()
    model = torch.ao.quantization.fuse_modules(model, [["c1", "r1"], ["c2", "r2"], ["c3", "r3"]])
    # fbgemm's settings with the exportable FakeQuantize (the default fused observer-fake-quant
    # op has no ONNX export): per-channel symmetric int8 weights, u8 activations.
    q = torch.ao.quantization
    model.qconfig = q.QConfig(
        activation=q.FakeQuantize.with_args(observer=q.MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                            dtype=torch.quint8),
        weight=q.FakeQuantize.with_args(observer=q.MovingAveragePerChannelMinMaxObserver, quant_min=-128,
                                        quant_max=127, dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
    model.train()
    torch.ao.quantization.prepare_qat(model, inplace=True)
    print("quantization-aware fine-tune")
    train(model, x, y, args.qat_epochs, 1e-4, gen)
    model.eval()
    model.apply(torch.ao.quantization.disable_observer)
    with torch.no_grad():
        correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in batches(tx, ty, 1000, False, gen))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "fashion_fakequant.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    print(f"wrote {path}; PyTorch fake-quantized top-1 {100 * correct / len(tx):.2f}")


if __name__ == "__main__":
    main()
