#!/usr/bin/env python3
"""Times the stage-2 (joint) fine-tune step of `lowbit quantize --finetune` in PyTorch on CPU and
prints lowbit's training images/s (from its report) against it.

The PyTorch step is the same computation: the CIFAR ResNet20 (BatchNorm folded into conv
biases, option-A shortcuts) as the float teacher (no gradient) and as the student with LSQ
fake quantization (per-channel 4-bit weights, 4-bit activations; first and last layers 8-bit),
T^2 * KL at temperature 4, backward, Adam; batch 32, same thread count.

  /usr/bin/python3 scripts/train_speed_vs_torch.py REPORT.json [--threads 2] [--batch 32] [--steps 30]
      [--onnx MODEL.onnx --size 32]

With --onnx the teacher and student are the ONNX file itself, run op by op in PyTorch (shape
arithmetic evaluated once, as lowbit's specialised graph folds it): every Conv and Gemm weight
LSQ-quantized per output channel and its data input LSQ-quantized per tensor, 4-bit, the first
and last of them 8-bit, as `lowbit quantize --wbits 4 --abits 4 --first-last-bits 8` does.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from onnx_torch import OnnxModule


class LsqQuant(torch.autograd.Function):
    """q = clamp(round(x / s), qmin, qmax) * s with LSQ's gradients (straight-through for x);
    s is one step or one per output channel (shape [C, 1, 1, 1])."""

    @staticmethod
    def forward(ctx, x, s, qmin, qmax, g):
        v = x / s
        ctx.save_for_backward(v, s)
        ctx.other = (qmin, qmax, g)
        return torch.clamp(torch.round(v), qmin, qmax) * s

    @staticmethod
    def backward(ctx, dy):
        v, s = ctx.saved_tensors
        qmin, qmax, g = ctx.other
        below, above = v < qmin, v > qmax
        dx = dy * ~(below | above)
        local = torch.where(below, torch.full_like(v, qmin), torch.where(above, torch.full_like(v, qmax), torch.round(v) - v))
        ds = dy * local
        ds = ds.sum() if s.numel() == 1 else ds.sum(dim=tuple(range(1, ds.dim())), keepdim=True)
        return dx, ds.reshape(s.shape) * g, None, None, None


class WeightQ(nn.Module):
    """LSQ per output channel (dim 0) of a weight of any rank (QConv's, OnnxModule's)."""

    def __init__(self, w, bits):
        super().__init__()
        self.qmax = 2 ** (bits - 1) - 1
        dims = tuple(range(1, w.dim()))
        self.step = nn.Parameter(w.abs().amax(dim=dims, keepdim=True) / self.qmax)

    def forward(self, w):
        g = 1.0 / (w[0].numel() * self.qmax) ** 0.5
        return LsqQuant.apply(w, self.step, -self.qmax - 1, self.qmax, g)


class QConv(nn.Module):
    def __init__(self, cin, cout, stride, bits):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=True)
        self.q = WeightQ(self.conv.weight.detach(), bits)

    def forward(self, x):
        return F.conv2d(x, self.q(self.conv.weight), self.conv.bias, self.conv.stride, self.conv.padding)


class ActQ(nn.Module):
    def __init__(self, bits, signed):
        super().__init__()
        self.qmin = -(2 ** (bits - 1)) if signed else 0
        self.qmax = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        self.step = nn.Parameter(torch.tensor(0.1))

    def forward(self, x):
        g = 1.0 / (x.numel() * self.qmax) ** 0.5
        return LsqQuant.apply(x, self.step, self.qmin, self.qmax, g)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, quant):
        super().__init__()
        bits = 4 if quant else None
        self.c1 = QConv(cin, cout, stride, 4) if quant else nn.Conv2d(cin, cout, 3, stride, 1)
        self.c2 = QConv(cout, cout, 1, 4) if quant else nn.Conv2d(cout, cout, 3, 1, 1)
        self.q1 = ActQ(4, False) if quant else nn.Identity()
        self.q2 = ActQ(4, False) if quant else nn.Identity()
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        y = self.q1(F.relu(self.c1(x)))
        y = self.c2(y)
        s = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            s = F.pad(s, (0, 0, 0, 0, self.pad // 2, self.pad // 2))
        return self.q2(F.relu(y + s))


class ResNet20(nn.Module):
    def __init__(self, quant):
        super().__init__()
        self.qin = ActQ(8, True) if quant else nn.Identity()
        self.conv1 = QConv(3, 16, 1, 8) if quant else nn.Conv2d(3, 16, 3, 1, 1)
        self.q1 = ActQ(4, False) if quant else nn.Identity()
        layers, cin = [], 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(3):
                layers.append(Block(cin, cout, stride if i == 0 else 1, quant))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.q1(F.relu(self.conv1(self.qin(x))))
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report", help="lowbit quantize --finetune ... --report REPORT.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--onnx", help="time this model instead of the built-in CIFAR ResNet20")
    ap.add_argument("--size", type=int, default=32, help="input height and width for --onnx")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = args.size if args.onnx else 32
    x = torch.rand(args.batch, 3, size, size) * 2 - 1
    if args.onnx:
        teacher = OnnxModule(args.onnx, x.shape, quantize=False).eval()
        student = OnnxModule(args.onnx, x.shape, quantize=True, make_weight_q=WeightQ, make_act_q=ActQ)
    else:
        teacher, student = ResNet20(False).eval(), ResNet20(True)
    opt = torch.optim.Adam(student.parameters(), lr=1e-4)
    T = args.temperature

    def step():
        with torch.no_grad():
            pt = F.softmax(teacher(x) / T, dim=1)
        ls = F.log_softmax(student(x) / T, dim=1)
        loss = T * T * F.kl_div(ls, pt, reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch_ips = args.steps * args.batch / (time.perf_counter() - t0)

    report = json.load(open(args.report))
    ft = report["finetune"]
    lowbit_ips = ft["stage2_images_per_s"]
    print(json.dumps({"torch_images_per_s": round(torch_ips, 1), "lowbit_images_per_s": round(lowbit_ips, 1),
                      "lowbit_vs_torch": round(lowbit_ips / torch_ips, 3), "threads": args.threads,
                      "batch": args.batch, "model": args.onnx or "built-in ResNet20", "torch": torch.__version__}))


if __name__ == "__main__":
    main()
