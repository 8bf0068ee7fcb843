#!/usr/bin/env python3
"""Rewrites one of lowbit's QDQ models into the layout ONNX Runtime's QDQ quantizer writes, to
check that lowbit reads such files as ORT does: a QuantizeLinear -> DequantizeLinear pair on
each Add's inputs and output, on the outputs of Slice and Pad (their input's scale and zero
point, as ORT propagates them through data movement), and a Pad's constant_value as
DequantizeLinear(QuantizeLinear(constant)). lowbit leaves an Add's branch input float; this
script gives it twice the scale of the block output with zero point 128 (u8, signed values):
a stand-in, not a calibration, so the file tests the layout rather than the accuracy ORT's
calibration would reach. Needs python3-onnx only.

  /usr/bin/python3 scripts/qdq_ort_layout.py IN.onnx OUT.onnx
"""
import collections
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnx_graph_index import index


def main(src, dst):
    m = onnx.load(src)
    g = m.graph
    inits, producer, readers = index(g)
    added = collections.Counter()
    new_inits, before = [], collections.defaultdict(list)  # nodes to insert before a node

    def qdq_params(value):
        """(scale, zero point) names of the DequantizeLinear producing value, or None."""
        n = producer.get(value)
        if n is not None and n.op_type == "DequantizeLinear" and n.input[0] not in inits:
            return n.input[1], n.input[2]
        return None

    def insert_qdq(value, scale, zp, at, what):
        """A Q -> DQ pair on value, read by node `at` instead of value; returns the new name."""
        q, d = value + "_ort_q", value + "_ort_dq"
        before[id(at)] += [helper.make_node("QuantizeLinear", [value, scale, zp], [q], name=q),
                           helper.make_node("DequantizeLinear", [q, scale, zp], [d], name=d)]
        added[what] += 1
        return d

    def constant(name, array):
        new_inits.append(numpy_helper.from_array(array, name))
        return name

    for n in list(g.node):
        if n.op_type in ("Slice", "Pad") and qdq_params(n.input[0]):
            # Everything from here to the Add moves codes: the input's parameters all the way.
            scale, zp = qdq_params(n.input[0])
            if n.op_type == "Pad" and len(n.input) > 2 and n.input[2]:
                cq, cd = n.name + "_value_q", n.name + "_value_dq"
                before[id(n)] += [helper.make_node("QuantizeLinear", [n.input[2], scale, zp], [cq], name=cq),
                                  helper.make_node("DequantizeLinear", [cq, scale, zp], [cd], name=cd)]
                n.input[2] = cd
                added["Pad constant_value as DQ(Q(c))"] += 1
            out = n.output[0]
            for r in readers[out]:
                r.input[list(r.input).index(out)] = insert_qdq(out, scale, zp, r, f"{n.op_type} output")
            producer_dq = out + "_ort_dq"
            producer[producer_dq] = helper.make_node("DequantizeLinear", [out + "_ort_q", scale, zp], [producer_dq])
        elif n.op_type == "Add":
            relu = readers[n.output[0]]
            if len(relu) != 1 or relu[0].op_type != "Relu":
                continue
            qs = [r for r in readers[relu[0].output[0]] if r.op_type == "QuantizeLinear"]
            if not qs:
                continue
            out_scale, out_zp = qs[0].input[1], qs[0].input[2]
            s = float(numpy_helper.to_array(inits[out_scale]))
            branch_scale = constant(n.name + "_branch_scale", np.array(2 * s, np.float32))
            branch_zp = constant(n.name + "_branch_zero_point", np.array(128, np.uint8))
            for i, v in enumerate(n.input):
                if qdq_params(v) is None:
                    n.input[i] = insert_qdq(v, branch_scale, branch_zp, n, "Add input")
            # The Add's output at the block output's parameters (its Relu then passes codes >= 0).
            out = n.output[0]
            relu[0].input[0] = insert_qdq(out, out_scale, out_zp, relu[0], "Add output")
    nodes = []
    for n in g.node:
        nodes += before[id(n)]
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f"wrote {dst}: added " + ", ".join(f"{k} x{v}" for k, v in sorted(added.items())))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
