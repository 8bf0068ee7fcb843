#!/usr/bin/env python3
"""Rewrites a QDQ model into ONNX Runtime's QOperator form where the QDQ layout allows it, as
ORT's QOperator quantizer writes such files: DequantizeLinear(x) -> Conv(DQ weights, DQ int32
bias) [-> Relu] -> QuantizeLinear(y) becomes one QLinearConv when x and y have one code type
(ONNX Runtime's kernels take no mix; a Relu folds when y's zero point is the code minimum: the
clamp at 0 is the quantization's own); DequantizeLinear(a),
DequantizeLinear(b) -> Add [-> Relu] -> QuantizeLinear becomes com.microsoft QLinearAdd, and
DequantizeLinear -> GlobalAveragePool -> QuantizeLinear com.microsoft QLinearGlobalAveragePool.
Everything else stays QDQ. For checking that lowbit and ONNX Runtime read QOperator files alike;
needs python3-onnx only.

  /usr/bin/python3 scripts/qdq_to_qoperator.py IN.onnx OUT.onnx
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
    graph_outputs = {o.name for o in g.output}

    def only_reader(value, op):
        r = readers[value]
        return r[0] if len(r) == 1 and r[0].op_type == op and value not in graph_outputs else None

    def dq_of(value, constant):
        n = producer.get(value)
        if n is None or n.op_type != "DequantizeLinear" or (n.input[0] in inits) != constant:
            return None
        return n

    def code_type(qdq):
        """The integer type of a QuantizeLinear's output or a DequantizeLinear's input."""
        if len(qdq.input) > 2 and qdq.input[2] in inits:
            return inits[qdq.input[2]].data_type
        return onnx.TensorProto.UINT8

    def zero_point_is_minimum(q):
        if len(q.input) < 3 or q.input[2] not in inits:
            return False
        z = numpy_helper.to_array(inits[q.input[2]])
        return z.size == 1 and int(z.reshape(-1)[0]) == np.iinfo(z.dtype).min

    def output_quantizer(value):
        """The QuantizeLinear that quantizes value, through a Relu it makes redundant."""
        q = only_reader(value, "QuantizeLinear")
        if q:
            return q, []
        relu = only_reader(value, "Relu")
        if relu:
            q = only_reader(relu.output[0], "QuantizeLinear")
            if q and zero_point_is_minimum(q):
                return q, [relu]
        return None, []

    replaced, new_nodes = set(), {}
    counts = collections.Counter()
    for n in g.node:
        if n.op_type == "Conv":
            x, w = dq_of(n.input[0], False), dq_of(n.input[1], True)
            b = dq_of(n.input[2], True) if len(n.input) > 2 and n.input[2] else None
            q, between = output_quantizer(n.output[0])
            if not (x and w and q) or (len(n.input) > 2 and n.input[2] and not b):
                continue
            if code_type(x) != code_type(q):  # ONNX Runtime's kernels take x and y of one type
                continue
            wz = w.input[2] if len(w.input) > 2 else ""
            ins = [*x.input[:3], w.input[0], w.input[1], wz, q.input[1], q.input[2] if len(q.input) > 2 else ""]
            if b:
                ins.append(b.input[0])
            new = helper.make_node("QLinearConv", ins, [q.output[0]], name=n.name + "_quant",
                                   **{a.name: helper.get_attribute_value(a) for a in n.attribute})
        elif n.op_type == "Add":
            a, b = dq_of(n.input[0], False), dq_of(n.input[1], False)
            q, between = output_quantizer(n.output[0])
            if not (a and b and q):
                continue
            new = helper.make_node("QLinearAdd", [*a.input[:3], *b.input[:3], *q.input[1:3]], [q.output[0]],
                                   name=n.name + "_quant", domain="com.microsoft")
        elif n.op_type == "GlobalAveragePool":
            x = dq_of(n.input[0], False)
            q, between = output_quantizer(n.output[0])
            if not (x and q) or between:
                continue
            new = helper.make_node("QLinearGlobalAveragePool", [*x.input[:3], *q.input[1:3]], [q.output[0]],
                                   name=n.name + "_quant", domain="com.microsoft", channels_last=0)
        else:
            continue
        new_nodes[n.name] = new
        replaced.update(id(r) for r in [n, q, *between])
        counts[new.op_type] += 1

    nodes = []
    for n in g.node:
        if n.name in new_nodes:
            nodes.append(new_nodes[n.name])
        elif id(n) not in replaced:
            nodes.append(n)
    # DequantizeLinear nodes nobody reads any more (the weights' and the inputs' of the new ops).
    while True:
        used = {i for n in nodes for i in n.input} | graph_outputs
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    kept_inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept_inits)
    if counts["QLinearAdd"] or counts["QLinearGlobalAveragePool"]:
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(m, dst)
    left = collections.Counter(n.op_type for n in nodes)
    print(f"wrote {dst}: " + ", ".join(f"{op} x{c}" for op, c in sorted(left.items())))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
