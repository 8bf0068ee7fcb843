#!/usr/bin/env python3
"""Rewrites a float32 ONNX model as float16 converters write one: float16 weights and constants,
a Cast to float16 after the input and a Cast to float32 before the output (the converters'
keep-io-types form), or with --half-io float16 inputs and outputs themselves.

  scripts/make_half.py IN.onnx OUT.onnx [--half-io]

Debian's python3-onnx."""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--half-io", action="store_true")
    a = ap.parse_args()
    m = onnx.load(a.src)
    g = m.graph
    for i, init in enumerate(g.initializer):
        if init.data_type == TensorProto.FLOAT:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for n in g.node:
        for attr in n.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16), attr.t.name))
    del g.value_info[:]
    if a.half_io:
        for v in list(g.input) + list(g.output):
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    else:
        inp, out = g.input[0].name, g.output[0].name
        for n in g.node:
            n.input[:] = [inp + "_half" if x == inp else x for x in n.input]
            n.output[:] = [out + "_half" if x == out else x for x in n.output]
        g.node.insert(0, helper.make_node("Cast", [inp], [inp + "_half"], name="input_to_half", to=TensorProto.FLOAT16))
        g.node.append(helper.make_node("Cast", [out + "_half"], [out], name="output_to_float", to=TensorProto.FLOAT))
    m.producer_name = "make_half.py"
    onnx.checker.check_model(m)
    onnx.save(m, a.dst)


if __name__ == "__main__":
    main()
