#!/usr/bin/python3
"""Cuts a QDQ model after its k-th quantized activation: the new model outputs that
DequantizeLinear's result flattened to [N, C*H*W], so `lowbit eval --dump` and
scripts/compare_ort.mjs can compare lowbit and ONNX Runtime layer by layer.

  /usr/bin/python3 scripts/truncate_qdq.py MODEL.onnx OUT_DIR K [K ...]   -> OUT_DIR/cutK.onnx
"""
import sys

import onnx
from onnx import TensorProto, helper


def activation_dequantizers(graph):
    """DequantizeLinear nodes of activations (codes computed at run time), in graph order."""
    constants = {i.name for i in graph.initializer}
    return [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in constants]


def cut(model, k):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    dqs = activation_dequantizers(g)
    if not 0 <= k < len(dqs):
        sys.exit(f"K={k}: the model has {len(dqs)} quantized activations")
    target = dqs[k].output[0]
    g.node.append(helper.make_node("Flatten", [target], ["cut_output"], axis=1))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("cut_output", TensorProto.FLOAT, None))
    needed, keep = {"cut_output"}, []
    for n in reversed(list(g.node)):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(n.input)
    del g.node[:]
    g.node.extend(reversed(keep))
    inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.value_info[:]
    return out, target


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    for k in (int(a) for a in sys.argv[3:]):
        m, target = cut(model, k)
        path = f"{sys.argv[2]}/cut{k}.onnx"
        onnx.save(m, path)
        print(f"{path}: output = {target}")


if __name__ == "__main__":
    main()
