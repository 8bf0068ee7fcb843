"""An ONNX classifier as a PyTorch module, for reference timings and figures (never a runtime
dependency of lowbit).

OnnxModule runs the graph op by op with torch functions. Values that depend only on constants
and on the (fixed) input shape, such as the Shape/Gather/Concat chains exporters write around
Reshape, are computed once at construction, as lowbit's specialised graph folds them; each
forward runs the rest. Conv and Gemm weights and biases become parameters; with quantize=True
each Conv/Gemm weight passes through make_weight_q(weight, bits) and each such op's data input
through make_act_q(bits, signed), 8-bit for the first and last of them and `bits` otherwise.
Unsupported ops raise NotImplementedError naming the node.
"""
import numpy as np
import onnx
import onnx.numpy_helper as nh
import torch
import torch.nn as nn
import torch.nn.functional as F


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(t):
    return [int(v) for v in t.flatten().tolist()]


def _slice(x, starts, ends, axes, steps):
    """ONNX Slice: negative starts/ends count from the end, then clamp (to [-1, dim-1] when the
    step is negative)."""
    for s, e, a, st in zip(starts, ends, axes, steps):
        dim = x.shape[a]
        s, e = s + dim if s < 0 else s, e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        x = torch.index_select(x, a, torch.arange(s, e, st, dtype=torch.int64))
    return x


def _reshape(x, shape):
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _binary(op, a, b):
    if op == "Add":
        return a + b
    if op == "Sub":
        return a - b
    if op == "Mul":
        return a * b
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}


class OnnxModule(nn.Module):
    def __init__(self, path, input_shape, quantize=False, make_weight_q=None, make_act_q=None, bits=4,
                 edge_bits=8):
        super().__init__()
        model = onnx.load(path)
        g = model.graph
        inits = {i.name: torch.from_numpy(nh.to_array(i).copy()) for i in g.initializer}
        self.input_name = [i.name for i in g.input if i.name not in inits][0]
        self.output_name = g.output[0].name
        self.weights = nn.ParameterDict()
        self.weight_q = nn.ModuleDict()
        self.act_q = nn.ModuleDict()
        self.param_of = {}  # initializer name -> key in self.weights
        compute = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
        edges = {id(compute[0]), id(compute[-1])} if compute else set()
        for k, n in enumerate(compute):
            for j, name in enumerate(n.input[1:3]):
                if name and name in inits:
                    key = f"p{k}_{j}"
                    self.weights[key] = nn.Parameter(inits[name].float())
                    self.param_of[name] = key
            if quantize:
                b = edge_bits if id(n) in edges else bits
                key = f"p{k}_0"
                self.weight_q[key] = make_weight_q(self.weights[key].detach(), b)
                producer = next((p for p in g.node if n.input[0] in p.output), None)
                self.act_q[f"a{k}"] = make_act_q(b, not (producer is not None and producer.op_type == "Relu"))
        self.compute_index = {id(n): k for k, n in enumerate(compute)}

        # One run on zeros of the input's shape: a node whose inputs are all fixed (constants,
        # shapes, what follows from them) keeps its outputs; the others run in forward.
        self.static = {k: v for k, v in inits.items() if k not in self.param_of}
        self.nodes = []
        env = dict(self.static)
        env[self.input_name] = torch.zeros(input_shape)
        with torch.no_grad():
            for n in g.node:
                outs = self._run(n, [env.get(i) if i else None for i in n.input], dry=True)
                env.update(zip(n.output, outs))
                fixed = n.op_type == "Shape" or all((not i) or i in self.static for i in n.input)
                if fixed and n.op_type not in ("Conv", "Gemm"):
                    self.static.update(zip(n.output, outs))
                else:
                    self.nodes.append(n)

    def _param(self, name, k):
        key = self.param_of.get(name)
        if key is None:
            return None
        w = self.weights[key]
        if k == 0 and key in self.weight_q:
            w = self.weight_q[key](w)
        return w

    def _run(self, n, xs, dry=False):
        op, a = n.op_type, _attrs(n)
        if op in ("Conv", "Gemm"):
            k = self.compute_index[id(n)]
            x = xs[0]
            if f"a{k}" in self.act_q and not dry:
                x = self.act_q[f"a{k}"](x)
            w = self._param(n.input[1], 0) if n.input[1] in self.param_of else xs[1]
            b = None
            if len(n.input) > 2 and n.input[2]:
                b = self._param(n.input[2], 1) if n.input[2] in self.param_of else xs[2]
            if op == "Gemm":
                if a.get("transA", 0):
                    x = x.t()
                y = x @ (w.t() if a.get("transB", 0) else w) * a.get("alpha", 1.0)
                return [y + b * a.get("beta", 1.0) if b is not None else y]
            pads = a.get("pads", [0, 0, 0, 0])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
                pads = [0, 0, 0, 0]
            return [F.conv2d(x, w, b, a.get("strides", [1, 1]), pads[:2], a.get("dilations", [1, 1]),
                             a.get("group", 1))]
        if op == "Constant":
            return [torch.from_numpy(nh.to_array(a["value"]).copy())]
        if op == "Relu":
            return [F.relu(xs[0])]
        if op == "Clip":
            lo = float(xs[1]) if len(xs) > 1 and xs[1] is not None else a.get("min", float("-inf"))
            hi = float(xs[2]) if len(xs) > 2 and xs[2] is not None else a.get("max", float("inf"))
            return [torch.clamp(xs[0], lo, hi)]
        if op == "Sigmoid":
            return [torch.sigmoid(xs[0])]
        if op == "HardSigmoid":
            return [torch.clamp(xs[0] * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1)]
        if op == "HardSwish":
            return [F.hardswish(xs[0])]
        if op in ("Add", "Sub", "Mul", "Div"):
            return [_binary(op, xs[0], xs[1])]
        if op == "Concat":
            return [torch.cat(xs, a["axis"])]
        if op == "Reshape":
            return [_reshape(xs[0], _ints(xs[1]))]
        if op == "Flatten":
            axis = a.get("axis", 1)
            return [xs[0].reshape(int(np.prod(xs[0].shape[:axis])), -1)]
        if op == "Transpose":
            return [xs[0].permute(a["perm"])]
        if op == "Slice":
            starts, ends = _ints(xs[1]), _ints(xs[2])
            axes = _ints(xs[3]) if len(xs) > 3 and xs[3] is not None else list(range(len(starts)))
            steps = _ints(xs[4]) if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
            axes = [ax % xs[0].dim() for ax in axes]
            return [_slice(xs[0], starts, ends, axes, steps)]
        if op == "Split":
            sizes = _ints(xs[1]) if len(xs) > 1 and xs[1] is not None else a.get("split")
            axis = a.get("axis", 0)
            if sizes is None:
                sizes = [xs[0].shape[axis] // len(n.output)] * len(n.output)
            return list(torch.split(xs[0], sizes, axis))
        if op == "Shape":
            return [torch.tensor(xs[0].shape, dtype=torch.int64)]
        if op == "Gather":
            idx = xs[1].long()
            return [torch.index_select(xs[0], a.get("axis", 0), idx.flatten()).reshape(
                list(xs[0].shape[:a.get("axis", 0)]) + list(idx.shape) + list(xs[0].shape[a.get("axis", 0) + 1:]))]
        if op == "Unsqueeze":
            axes = _ints(xs[1]) if len(xs) > 1 else a["axes"]
            y = xs[0]
            for ax in sorted(ax % (y.dim() + len(axes)) for ax in axes):
                y = y.unsqueeze(ax)
            return [y]
        if op == "Squeeze":
            axes = _ints(xs[1]) if len(xs) > 1 else a.get("axes")
            y = xs[0]
            for ax in sorted((ax % y.dim() for ax in axes), reverse=True) if axes else []:
                y = y.squeeze(ax)
            return [y if axes else y.squeeze()]
        if op == "Cast":
            return [xs[0].to(_DTYPES[a["to"]])]
        if op == "ReduceMean":
            axes = a.get("axes") or (_ints(xs[1]) if len(xs) > 1 else list(range(xs[0].dim())))
            return [xs[0].mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))]
        if op == "GlobalAveragePool":
            return [xs[0].mean(dim=(2, 3), keepdim=True)]
        if op in ("MaxPool", "AveragePool"):
            pads = a.get("pads", [0, 0, 0, 0])
            k, s = a["kernel_shape"], a.get("strides", [1, 1])
            if op == "MaxPool":
                return [F.max_pool2d(xs[0], k, s, pads[:2], ceil_mode=bool(a.get("ceil_mode", 0)))]
            return [F.avg_pool2d(xs[0], k, s, pads[:2], ceil_mode=bool(a.get("ceil_mode", 0)),
                                 count_include_pad=bool(a.get("count_include_pad", 0)))]
        if op == "Pad":
            p = _ints(xs[1])
            half = len(p) // 2
            torch_pads = []
            for d in reversed(range(half)):
                torch_pads += [p[d], p[d + half]]
            value = float(xs[2]) if len(xs) > 2 and xs[2] is not None else 0.0
            return [F.pad(xs[0], torch_pads, value=value)]
        if op == "ConstantOfShape":
            value = torch.from_numpy(nh.to_array(a["value"]).copy()) if "value" in a else torch.zeros(1)
            return [value.reshape(()).expand(_ints(xs[0])).clone()]
        if op == "Identity":
            return [xs[0]]
        raise NotImplementedError(f"{op} node '{n.name}'")

    def forward(self, x):
        env = dict(self.static)
        env[self.input_name] = x
        for n in self.nodes:
            outs = self._run(n, [env.get(i) if i else None for i in n.input])
            for name, v in zip(n.output, outs):
                env[name] = v
        return env[self.output_name]
