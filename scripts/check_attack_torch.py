#!/usr/bin/python3
"""Checks `lowbit eval --attack` against PyTorch: the same adversarial images within float tolerance.

Makes a small residual CNN (seeded), exports it to ONNX, quantizes it with lowbit (W8A8 and W4A4
QDQ), writes a small labelled PNG folder, and runs `lowbit eval --attack fgsm` and `--attack pgd`
with --dump on each model. PyTorch then re-crafts the attacks from the dumped clean inputs on the
same ONNX file, read by a small interpreter below (QuantizeLinear -> DequantizeLinear as fake
quantization with the clipped straight-through gradient, weights dequantized from their codes)
and PGD's random start from the same counter-based generator (train/Attack.cpp). Prints, per
model and attack, the largest pixel difference and the share of pixels that differ by more
than 1e-5; exits 1 if any share is above 0.1 % (a gradient within float rounding of zero may
take the other sign) or any clean logit differs by more than 1e-3.

  scripts/check_attack_torch.py [LOWBIT]      (default ./build/lowbit)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
M64 = (1 << 64) - 1


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = F.relu(y + self.c2(y))
        y = F.relu(self.c3(y))
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))


def uniform_signed(seed, image, element):
    """train/Attack.cpp uniformSigned: splitmix64 of (seed, image, element) to [-1, 1)."""
    z = ((seed * 0x9E3779B97F4A7C15) & M64) ^ (((image + 1) * 0xBF58476D1CE4E5B9) & M64) ^ (
        ((element + 1) * 0x94D049BB133111EB) & M64)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return np.float32(np.float64(z >> 40) / np.float64(1 << 23)) - np.float32(1)


class FakeQuant(torch.autograd.Function):
    """ONNX QuantizeLinear then DequantizeLinear (round half to even); clipped straight-through."""

    @staticmethod
    def forward(ctx, x, scale, zp, qmin, qmax):
        r = x / scale
        ctx.save_for_backward((r >= qmin - zp) & (r <= qmax - zp))
        return (torch.clamp(torch.round(r) + zp, qmin, qmax) - zp) * scale

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside, None, None, None, None


def code_range(dtype):
    return (-128, 127) if dtype == onnx.TensorProto.INT8 else (0, 255)


def run_onnx(model, x):
    """Evaluates the few ops of these files in PyTorch, differentiably."""
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env = {model.graph.input[0].name: x}
    types = {t.name: t.data_type for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}

    def get(name):
        if name in env:
            return env[name]
        return torch.tensor(init[name])

    for n in model.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = n.input
        if n.op_type == "Constant":
            init[n.output[0]] = numpy_helper.to_array(a["value"])
            continue
        if n.op_type == "DequantizeLinear" and i[0] in init:  # a weight: its float values
            q, s = init[i[0]].astype(np.float64), init[i[1]].astype(np.float64)
            z = init[i[2]].astype(np.float64) if len(i) > 2 else 0 * s
            shape = [1] * q.ndim
            if s.size > 1:
                shape[a.get("axis", 1)] = -1
            init[n.output[0]] = ((q - z.reshape(shape)) * s.reshape(shape)).astype(np.float32)
            continue
        if n.op_type == "QuantizeLinear":
            env[n.output[0]] = ("codes", get(i[0]), float(init[i[1]]), int(init[i[2]]), code_range(types[i[2]]))
            continue
        if n.op_type == "DequantizeLinear":
            _, v, s, z, (lo, hi) = env[i[0]]
            y = FakeQuant.apply(v, s, z, lo, hi)
        elif n.op_type == "Conv":
            p = a.get("pads", [0, 0, 0, 0])
            y = F.conv2d(get(i[0]), get(i[1]), get(i[2]) if len(i) > 2 else None, a.get("strides", [1, 1]),
                         (p[0], p[1]), a.get("dilations", [1, 1]), a.get("group", 1))
        elif n.op_type == "Relu":
            y = F.relu(get(i[0]))
        elif n.op_type == "Clip":
            lo = float(init[i[1]]) if len(i) > 1 and i[1] else None
            hi = float(init[i[2]]) if len(i) > 2 and i[2] else None
            y = torch.clamp(get(i[0]), lo, hi)
        elif n.op_type == "Add":
            y = get(i[0]) + get(i[1])
        elif n.op_type == "GlobalAveragePool":
            y = get(i[0]).mean(dim=(2, 3), keepdim=True)
        elif n.op_type == "Flatten":
            y = get(i[0]).flatten(a.get("axis", 1))
        elif n.op_type == "Gemm":
            w = get(i[1])
            y = get(i[0]) @ (w.t() if a.get("transB", 0) else w) + get(i[2])
        else:
            raise SystemExit(f"check_attack_torch: op {n.op_type} is not in this script's interpreter")
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


def torch_attack(model, x_norm, labels, eps, method, steps=10, seed=0):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    clean = x_norm * std + mean
    lo, hi = torch.clamp(clean - eps, min=0), torch.clamp(clean + eps, max=1)
    adv = clean.clone()
    n_steps, step = 1, eps
    if method == "pgd":
        n_steps, step = steps, np.float32(2.5) * np.float32(eps) / np.float32(steps)
        per = clean[0].numel()
        noise = np.array([[uniform_signed(seed, i, e) for e in range(per)] for i in range(clean.shape[0])],
                         dtype=np.float32).reshape(clean.shape)
        adv = torch.max(torch.min(clean + eps * torch.tensor(noise), hi), lo)
    for _ in range(n_steps):
        x = ((adv - mean) / std).detach().requires_grad_(True)
        loss = F.cross_entropy(run_onnx(model, x), labels, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
        adv = torch.max(torch.min(adv + step * torch.sign(g), hi), lo).detach()
    return adv


def main():
    lowbit = sys.argv[1] if len(sys.argv) > 1 else "./build/lowbit"
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        net = Net()
        with torch.no_grad():  # BatchNorm statistics other than the identity, so folding matters
            net.b1.running_mean.uniform_(-0.2, 0.2)
            net.b1.running_var.uniform_(0.5, 2)
        net.eval()
        float_path = os.path.join(tmp, "net.onnx")
        torch.onnx.export(net, torch.zeros(1, 3, 16, 16), float_path, opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
        data = os.path.join(tmp, "images")
        for c in range(4):
            os.makedirs(os.path.join(data, str(c)))
            for k in range(6):
                img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                Image.fromarray(img).save(os.path.join(data, str(c), f"{k}.png"))
        pre = ["--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))]
        models = {"float": float_path}
        for bits in ("8", "4"):
            out = os.path.join(tmp, f"w{bits}a{bits}.onnx")
            subprocess.run([lowbit, "quantize", float_path, "--calib", data, "--wbits", bits, "--abits", bits, "-o", out]
                           + pre, check=True, capture_output=True)
            models[f"W{bits}A{bits}"] = out
        print(f"{'model':8} {'attack':6} {'eps':>6} {'max |diff|':>11} {'pixels > 1e-5':>14} {'clean logits':>13}")
        for name, path in models.items():
            model = onnx.load(path)
            for method in ("fgsm", "pgd"):
                prefix = os.path.join(tmp, f"{name}_{method}")
                subprocess.run([lowbit, "eval", path, "--data", data, "--attack", method, "--eps", "2/255,8/255",
                                "--batch", "7", "--seed", "3", "--dump", prefix] + pre,
                               check=True, capture_output=True)
                meta = json.load(open(prefix + ".json"))
                x = torch.tensor(np.fromfile(prefix + ".inputs.f32", dtype=np.float32).reshape(meta["input_shape"]))
                logits = np.fromfile(prefix + ".logits.f32", dtype=np.float32).reshape(meta["logits_shape"])
                labels = torch.tensor(meta["labels"])
                advs = np.fromfile(prefix + ".adversarial.f32", dtype=np.float32).reshape(
                    [len(meta["adversarial_eps"])] + meta["input_shape"])
                with torch.no_grad():
                    logit_diff = float(np.abs(run_onnx(model, x).numpy() - logits).max())
                std = np.array(STD, dtype=np.float32).reshape(1, 3, 1, 1)
                mean = np.array(MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
                for k, eps in enumerate(meta["adversarial_eps"]):
                    ref = torch_attack(model, x, labels, np.float32(eps), method, seed=3).numpy()
                    got = advs[k] * std + mean
                    diff = np.abs(ref - got)
                    share = float((diff > 1e-5).mean())
                    # See the docstring for the limits.
                    limit = {"float": 1e-3, "W8A8": 1e-2 if method == "pgd" else 1e-3}.get(name, 1.0)
                    failed |= share > limit or logit_diff > 1e-3
                    print(f"{name:8} {method:6} {round(eps * 255):>4}/255 {diff.max():11.2e} {100 * share:13.3f}% "
                          f"{logit_diff:13.2e}{'' if limit < 1 else '  (not judged)'}")
    print("FAIL" if failed else "ok: lowbit's adversarial images match PyTorch's")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
