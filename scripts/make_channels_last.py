#!/usr/bin/env python3
"""Rewrites an NCHW image classifier as TensorFlow, Keras and tf2onnx exports lay one out: the
graph input is [N, H, W, C] and a Transpose(0, 3, 1, 2) takes it to the convolutions.

  scripts/make_channels_last.py IN.onnx OUT.onnx [--normalize MEAN,.. STD,..]

--normalize also moves the preprocessing into the graph as a Keras Normalization layer writes it,
before the Transpose, on the channels-last tensor: (x - mean) / std with [C]-shaped constants.
The rewritten model then reads plain [0, 1] pixels (lowbit --mean 0 --std 1).
Debian's python3-onnx; the model-making scripts' only dependency."""
import argparse

import numpy as np
import onnx
from onnx import helper, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--normalize", nargs=2, metavar=("MEAN", "STD"))
    a = ap.parse_args()
    m = onnx.load(a.src)
    g = m.graph
    inp = g.input[0]
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 4:
        raise SystemExit(f"{a.src}: input {inp.name} is not rank 4")
    first = inp.name + "_nchw"
    for n in g.node:
        n.input[:] = [first if x == inp.name else x for x in n.input]
    old = [onnx.TensorShapeProto.Dimension() for _ in range(4)]
    for o, d in zip(old, dims):
        o.CopyFrom(d)
    for i, src in enumerate((0, 2, 3, 1)):
        dims[i].CopyFrom(old[src])
    nodes = []
    x = inp.name
    if a.normalize:
        mean = np.array([float(v) for v in a.normalize[0].split(",")], np.float32)
        std = np.array([float(v) for v in a.normalize[1].split(",")], np.float32)
        g.initializer.extend([numpy_helper.from_array(mean, inp.name + "_mean"),
                              numpy_helper.from_array(std, inp.name + "_std")])
        nodes += [helper.make_node("Sub", [x, inp.name + "_mean"], [inp.name + "_centred"], name="normalization_sub"),
                  helper.make_node("Div", [inp.name + "_centred", inp.name + "_std"], [inp.name + "_normalized"],
                                   name="normalization_div")]
        x = inp.name + "_normalized"
    nodes.append(helper.make_node("Transpose", [x], [first], name="input_to_nchw", perm=[0, 3, 1, 2]))
    old_nodes = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old_nodes)
    m.producer_name = "make_channels_last.py"
    onnx.checker.check_model(m)
    onnx.save(m, a.dst)


if __name__ == "__main__":
    main()
