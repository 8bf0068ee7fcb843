#!/usr/bin/env python3
"""PyTorch FX post-training quantization of a float ONNX image classifier: the reference that
lowbit's W8A8 accuracy drop is held against. The ONNX graph is rebuilt as a torch.nn.Module
(convolutions and fully connected layers as modules, everything else as the functions a PyTorch
author would call, h-swish written as x * HardSigmoid(x) read back as hardswish), then
quantized by FX with PyTorch 1.13's oneDNN (x86) configuration: per-channel symmetric int8
weights, histogram-calibrated u8 activations, fixed ranges for sigmoid/hard-sigmoid outputs.
Both are evaluated on the same decoded images lowbit reads.

  /usr/bin/python3 scripts/fx_ptq_reference.py MODEL.onnx --calib DIR --data DIR \
      [--size S] [--mean M,M,M --std S,S,S] [--limit N] [--batch B]

Images: <dir>/<class>/<file>, class folders named by integers are that class, others take their
sorted position (as lowbit's eval); resize of the shorter side and center crop with PIL's
bilinear filter (--size). Prints one JSON object: float and int8 top-1, the drop, and their
top-1 agreement. Needs Debian's python3-torch, python3-onnx and python3-pil; never a runtime
dependency of lowbit.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from PIL import Image
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- images, as lowbit reads them
def list_images(root):
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    numeric = all(c.isdigit() for c in classes)
    items = []
    for pos, c in enumerate(classes):
        label = int(c) if numeric else pos
        for f in sorted(os.listdir(os.path.join(root, c))):
            items.append((os.path.join(root, c, f), label))
    return items


def load_image(path, channels, size, mean, std):
    img = Image.open(path)
    img = img.convert("L" if channels == 1 else "RGB")
    if size:
        w, h = img.size
        scale = size / min(w, h)
        if (w, h) != (size, size):
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
            w, h = img.size
            left, top = (w - size) // 2, (h - size) // 2
            img = img.crop((left, top, left + size, top + size))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = x[None] if channels == 1 else x.transpose(2, 0, 1)
    return (x - mean[:, None, None]) / std[:, None, None]


def balanced(items, limit):
    """The first `limit` images taking classes in turn (lowbit's --limit)."""
    if not limit or limit >= len(items):
        return items
    by_class = {}
    for it in items:
        by_class.setdefault(it[1], []).append(it)
    out, i = [], 0
    while len(out) < limit:
        for c in sorted(by_class):
            if i < len(by_class[c]) and len(out) < limit:
                out.append(by_class[c][i])
        i += 1
    return out


def batches(items, batch, channels, size, mean, std):
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        x = np.stack([load_image(p, channels, size, mean, std) for p, _ in chunk])
        yield torch.from_numpy(x), torch.tensor([label for _, label in chunk])


# ---------------------------------------------------------------- ONNX -> torch.nn.Module
def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def static_op(op, v, a):
    """Shape arithmetic in numpy: ops whose inputs are all known before the data arrives."""
    if op == "Identity":
        return v[0]
    if op == "Gather":
        return np.take(v[0], v[1], axis=a.get("axis", 0))
    if op == "Unsqueeze":
        axes = a.get("axes", v[1] if len(v) > 1 else None)
        return np.expand_dims(v[0], tuple(int(x) for x in np.atleast_1d(axes)))
    if op == "Squeeze":
        axes = a.get("axes", v[1] if len(v) > 1 else None)
        return np.squeeze(v[0], None if axes is None else tuple(int(x) for x in np.atleast_1d(axes)))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(x) for x in v], axis=a.get("axis", 0))
    if op in ("Mul", "Div", "Add", "Sub"):
        f = {"Mul": np.multiply, "Div": np.floor_divide if v[0].dtype.kind == "i" else np.divide,
             "Add": np.add, "Sub": np.subtract}[op]
        return f(v[0], v[1]).astype(v[0].dtype)
    if op == "Cast":
        return v[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]])
    if op == "Slice":
        axes = v[3] if len(v) > 3 and v[3] is not None else range(len(v[1]))
        sl = [slice(None)] * v[0].ndim
        for s, e, ax in zip(v[1], v[2], axes):
            sl[int(ax)] = slice(int(s), int(e))
        return v[0][tuple(sl)]
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full(tuple(int(d) for d in v[0]), fill.reshape(-1)[0], fill.dtype)
    raise SystemExit(f"fx_ptq_reference: ONNX op {op} on constants is not supported by this converter")


class OnnxModule(nn.Module):
    """An ONNX CNN as a module FX can trace: shape arithmetic is evaluated once, for batch 1 and
    2 (a Reshape target entry that differs grows linearly with the batch and is rebuilt from
    the input's batch when traced); the data path runs as torch."""

    def __init__(self, model):
        super().__init__()
        onnx.checker.check_model(model)
        g = model.graph
        consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in consts]
        if len(self.inputs) != 1:
            raise SystemExit("fx_ptq_reference: a model with one image input is supported")
        self.outputs = [o.name for o in g.output]
        shape = [d.dim_value for d in g.input[[i.name for i in g.input].index(self.inputs[0])].type.tensor_type.shape.dim]
        self.nodes = [(n.op_type, list(n.input), list(n.output), attrs(n)) for n in g.node]
        producers = {o: n for n in self.nodes for o in n[2]}
        self.nodes = [self._read_hswish(n, producers) for n in self.nodes]
        self.layers = nn.ModuleDict()
        for idx, (op, ins, outs, a) in enumerate(self.nodes):
            if op in ("Conv", "Gemm", "MatMul") and ins[1] in consts:
                self.layers[f"l{idx}"] = self._layer(op, ins, a, consts)
        # Shape arithmetic: values that are numpy after an eager run, for two batch sizes.
        self.static, self.batch_linear = {}, {}
        one, two = ({}, {})
        for batch, static in ((1, one), (2, two)):
            static.update(consts)
            self._run(torch.zeros([batch] + shape[1:]), static)
        for k, v in one.items():
            if not isinstance(v, np.ndarray):
                continue  # data
            w = two[k]
            if v.shape == w.shape and v.dtype.kind == "i" and not np.array_equal(v, w):
                self.batch_linear[k] = (v - (w - v), w - v)  # v(batch) = base + batch * slope
            self.static[k] = v
        # Steps that compute data (not shape arithmetic) and that an output needs.
        needed, kept = set(self.outputs), []
        for idx, node in reversed(list(enumerate(self.nodes))):
            if any(o in needed for o in node[2]) and not all(o in self.static for o in node[2]):
                kept.append((idx, node))
                needed.update(i for i in node[1] if i)
        self.steps = kept[::-1]

    @staticmethod
    def _read_hswish(node, producers):
        # h-swish as exporters write it, x * HardSigmoid(x) (alpha 1/6, beta 0.5), read as one op.
        op, ins, outs, a = node
        if op != "Mul":
            return node
        for i, j in ((0, 1), (1, 0)):
            p = producers.get(ins[j])
            if p and p[0] == "HardSigmoid" and p[1][0] == ins[i] and abs(p[3].get("alpha", 0.2) - 1 / 6) < 1e-6 \
                    and abs(p[3].get("beta", 0.5) - 0.5) < 1e-6:
                return ("HardSwish", [ins[i]], outs, {})
        return node

    @staticmethod
    def _layer(op, ins, a, consts):
        w = consts[ins[1]]
        b = consts[ins[2]] if len(ins) > 2 and ins[2] else None
        if op == "Conv":
            pads = a.get("pads", [0] * (2 * (w.ndim - 2)))
            if w.ndim != 4 or pads[:2] != pads[2:]:
                raise SystemExit("fx_ptq_reference: 2-D Conv with symmetric pads is supported")
            group = a.get("group", 1)
            layer = nn.Conv2d(w.shape[1] * group, w.shape[0], tuple(w.shape[2:]), tuple(a.get("strides", [1, 1])),
                              tuple(pads[:2]), tuple(a.get("dilations", [1, 1])), group, b is not None)
        else:
            if op == "Gemm" and (a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0):
                raise SystemExit("fx_ptq_reference: Gemm with transA, alpha or beta is not supported")
            if op == "MatMul" or not a.get("transB", 0):
                w = w.T
            layer = nn.Linear(w.shape[1], w.shape[0], b is not None)
        layer.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(w)))
        if b is not None:
            layer.bias.data.copy_(torch.from_numpy(b.copy()))
        return layer

    def _run(self, x, vals, steps=None):
        """Runs the graph on input \p x; \p vals holds numpy constants and receives every value."""
        vals[self.inputs[0]] = x
        for idx, (op, ins, outs, a) in steps if steps is not None else enumerate(self.nodes):
            v = [vals[i] if i else None for i in ins]
            if op == "Reshape" and ins[1] in self.batch_linear:
                base, slope = self.batch_linear[ins[1]]
                n = x.shape[0]
                vals[outs[0]] = v[0].reshape(*[int(b) + int(s) * n if s else int(b) for b, s in zip(base, slope)])
            elif op == "Constant":
                vals[outs[0]] = numpy_helper.to_array(a["value"])
            elif op == "Shape":
                vals[outs[0]] = np.array(v[0].shape, dtype=np.int64)
            elif all(t is None or isinstance(t, np.ndarray) for t in v):
                vals[outs[0]] = np.asarray(static_op(op, v, a))
            else:
                ys = self._data_op(idx, op, v, a, len(outs))
                for o, y in zip(outs, ys if isinstance(ys, (tuple, list)) else [ys]):
                    vals[o] = y
        return vals[self.outputs[0]]

    def _data_op(self, idx, op, v, a, nout):
        def t(u):  # a float constant read by a data op
            return torch.from_numpy(np.array(u, dtype=np.float32)) if isinstance(u, np.ndarray) else u
        x = v[0]
        if op in ("Conv", "Gemm", "MatMul"):
            return self.layers[f"l{idx}"](x)
        if op == "Relu":
            return F.relu(x)
        if op == "Clip":
            lo = float(v[1]) if len(v) > 1 and v[1] is not None else a.get("min", -np.inf)
            hi = float(v[2]) if len(v) > 2 and v[2] is not None else a.get("max", np.inf)
            if (lo, hi) == (0.0, 6.0):
                return F.relu6(x)
            return F.relu(x) if (lo, hi) == (0.0, np.inf) else torch.clamp(x, lo, hi)
        if op == "HardSwish":
            return F.hardswish(x)
        if op == "HardSigmoid":
            alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
            if abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6:
                return F.hardsigmoid(x)
            return torch.clamp(alpha * x + beta, 0, 1)
        if op == "Sigmoid":
            return torch.sigmoid(x)
        if op == "LeakyRelu":
            return F.leaky_relu(x, a.get("alpha", 0.01))
        if op in ("Add", "Sub", "Mul", "Div"):
            p, q = t(v[0]), t(v[1])
            return {"Add": lambda: p + q, "Sub": lambda: p - q, "Mul": lambda: p * q, "Div": lambda: p / q}[op]()
        if op == "Concat":
            return torch.cat([t(u) for u in v], dim=a["axis"])
        if op == "Reshape":
            return torch.reshape(x, tuple(int(d) for d in v[1]))
        if op == "Transpose":
            return x.permute(*a["perm"])
        if op == "Flatten":
            return torch.flatten(x, a.get("axis", 1))
        if op == "GlobalAveragePool":
            return F.adaptive_avg_pool2d(x, 1)
        if op == "ReduceMean":
            axes = a.get("axes", v[1] if len(v) > 1 else None)
            return torch.mean(x, dim=[int(d) for d in axes], keepdim=bool(a.get("keepdims", 1)))
        if op in ("MaxPool", "AveragePool"):
            pads = a.get("pads", [0] * 4)
            if pads[:2] != pads[2:]:
                raise SystemExit(f"fx_ptq_reference: {op} with asymmetric pads is not supported")
            kw = {} if op == "MaxPool" else {"count_include_pad": bool(a.get("count_include_pad", 0))}
            f = F.max_pool2d if op == "MaxPool" else F.avg_pool2d
            return f(x, tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1])), tuple(pads[:2]),
                     ceil_mode=bool(a.get("ceil_mode", 0)), **kw)
        if op == "Slice":
            axes = v[3] if len(v) > 3 and v[3] is not None else range(len(v[1]))
            steps = v[4] if len(v) > 4 and v[4] is not None else [1] * len(v[1])
            for s, e, ax, st in zip(v[1], v[2], axes, steps):
                x = x[(slice(None),) * int(ax) + (slice(int(s), int(e), int(st)),)]
            return x
        if op == "Split":
            sizes = v[1] if len(v) > 1 and v[1] is not None else a.get("split")
            if sizes is None:
                return torch.chunk(x, nout, dim=a.get("axis", 0))
            return torch.split(x, [int(s) for s in sizes], dim=a.get("axis", 0))
        if op in ("Identity", "Dropout"):
            return x
        if op == "Softmax":
            return torch.softmax(x, a.get("axis", -1))
        raise SystemExit(f"fx_ptq_reference: ONNX op {op} is not supported by this converter")

    def forward(self, x):  # one input: FX cannot trace *args on Python 3.11 with torch 1.13
        return self._run(x, dict(self.static), self.steps)


# ---------------------------------------------------------------- FX PTQ and evaluation
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--mean", default="0")
    ap.add_argument("--std", default="1")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    proto = onnx.load(args.model)
    module = OnnxModule(proto).eval()
    inp = [i for i in proto.graph.input if i.name in module.inputs][0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    channels = shape[1]
    mean = np.array([float(v) for v in args.mean.split(",")], dtype=np.float32)
    std = np.array([float(v) for v in args.std.split(",")], dtype=np.float32)
    if mean.size == 1:
        mean, std = np.repeat(mean, channels), np.repeat(std, channels)

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    calib = list_images(args.calib)
    example = next(batches(calib[:1], 1, channels, args.size, mean, std))[0]
    prepared = prepare_fx(module, get_default_qconfig_mapping("onednn"), example_inputs=(example,))
    with torch.no_grad():
        for i, (x, _) in enumerate(batches(calib, args.batch, channels, args.size, mean, std)):
            prepared(x)
            print(f"\rcalibrate: {min(len(calib), (i + 1) * args.batch)}/{len(calib)} images", end="", file=sys.stderr)
    print(file=sys.stderr)
    quantized = convert_fx(prepared)

    test = balanced(list_images(args.data), args.limit)
    right_f = right_q = agree = 0
    with torch.no_grad():
        for i, (x, y) in enumerate(batches(test, args.batch, channels, args.size, mean, std)):
            pf, pq = module(x).argmax(1), quantized(x).argmax(1)
            right_f += (pf == y).sum().item()
            right_q += (pq == y).sum().item()
            agree += (pf == pq).sum().item()
            print(f"\revaluate: {min(len(test), (i + 1) * args.batch)}/{len(test)} images", end="", file=sys.stderr)
    print(file=sys.stderr)
    n = len(test)
    print(json.dumps({"model": os.path.basename(args.model), "images": n, "calibration_images": len(calib),
                      "torch": torch.__version__, "backend": "onednn",
                      "qconfig": "get_default_qconfig_mapping('onednn'): per-channel symmetric int8 weights, "
                                 "HistogramObserver u8 activations",
                      "float_top1": round(100.0 * right_f / n, 2), "int8_top1": round(100.0 * right_q / n, 2),
                      "drop": round(100.0 * (right_f - right_q) / n, 2), "top1_agreement": round(100.0 * agree / n, 2)}))


if __name__ == "__main__":
    main()
