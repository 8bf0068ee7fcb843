#!/usr/bin/env python3
"""Regenerates the small test fixtures in tests/data (committed; run with /usr/bin/python3,
which has Debian's python3-pil and python3-onnx). Expected pixels come from PIL 9.4, the
decoder/resizer lowbit must match bit for bit."""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
good, bad = os.path.join(HERE, "good"), os.path.join(HERE, "bad")
rng = np.random.default_rng(7)


def smooth(h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    planes = [(40 + 25 * x + 17 * y + 60 * k + rng.integers(0, 30, (h, w))) % 256 for k in range(c)]
    return np.stack(planes, -1).astype(np.uint8)


images = {
    "rgb_5x4.png": Image.fromarray(smooth(4, 5, 3), "RGB"),
    "rgba_3x2.png": Image.fromarray(smooth(2, 3, 4), "RGBA"),
    "grey_4x4.png": Image.fromarray(smooth(4, 4, 1)[:, :, 0], "L"),
    "rgb_13x9.jpg": Image.fromarray(smooth(9, 13, 3), "RGB"),
    "grey_6x5.jpg": Image.fromarray(smooth(5, 6, 1)[:, :, 0], "L"),
}
expected = {}
for name, img in images.items():
    path = os.path.join(good, name)
    if name.endswith(".jpg"):
        img.save(path, quality=75)
    else:
        img.save(path)
    decoded = Image.open(path)
    mode = "L" if decoded.mode == "L" else "RGB"
    arr = np.asarray(decoded.convert(mode))
    expected[name] = {"width": decoded.width, "height": decoded.height,
                      "channels": 1 if mode == "L" else 3, "pixels": arr.reshape(-1).tolist()}
# PIL bilinear resizes (torchvision's Resize on PIL images) of the decoded RGB JPEG.
src = Image.open(os.path.join(good, "rgb_13x9.jpg")).convert("RGB")
for w, h in [(5, 3), (20, 14), (13, 4)]:
    out = np.asarray(src.resize((w, h), Image.BILINEAR))
    expected[f"resize_rgb_13x9.jpg_{w}x{h}"] = {"width": w, "height": h, "channels": 3,
                                                "pixels": out.reshape(-1).tolist()}
with open(os.path.join(good, "expected_pixels.json"), "w") as f:
    json.dump(expected, f)

# A tiny valid model (Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm), then broken copies.
w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype(np.float32).tolist())
fc = helper.make_tensor("fc", TensorProto.FLOAT, [2, 4], rng.standard_normal(8).astype(np.float32).tolist())
nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
         helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
         helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1)]
graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [w, fc])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_fixtures")
onnx.checker.check_model(model)
onnx.save(model, os.path.join(good, "tiny_convnet.onnx"))
data = model.SerializeToString()
with open(os.path.join(bad, "truncated.onnx"), "wb") as f:
    f.write(data[: len(data) // 2])

nodes2 = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
          helper.make_node("Gelu", ["c"], ["g1"], name="gelu_3", domain="com.microsoft"),
          helper.make_node("Hardmax", ["g1"], ["e"], name="hardmax_4"),
          helper.make_node("Relu", ["e"], ["y"], name="relu")]
graph2 = helper.make_graph(nodes2, "unknown_op", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
model2 = helper.make_model(graph2, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
onnx.save(model2, os.path.join(bad, "unknown_op.onnx"))

with open(os.path.join(bad, "not_an_image.jpg"), "w") as f:
    f.write("this is text, not a JPEG\n")
with open(os.path.join(bad, "truncated.jpg"), "wb") as f:
    f.write(open(os.path.join(good, "rgb_13x9.jpg"), "rb").read()[:200])

# The tiny model with its weights in a separate file (ONNX external data).
ext_dir = os.path.join(good, "external")
os.makedirs(ext_dir, exist_ok=True)
ext = onnx.load(os.path.join(good, "tiny_convnet.onnx"))
from onnx import numpy_helper
from onnx.external_data_helper import convert_model_to_external_data
for t in ext.graph.initializer:  # external data needs raw_data, not float_data
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), t.name))
convert_model_to_external_data(ext, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
onnx.save(ext, os.path.join(ext_dir, "tiny_convnet_external.onnx"))

# The tiny model as other tools write it (fuzzing seeds and CLI fixtures): channels last with a
# Keras Normalization before the Transpose into NCHW, and computing in float16 between Casts.
nhwc = onnx.load(os.path.join(good, "tiny_convnet.onnx"))
nhwc.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 8, 3]))
nhwc.graph.initializer.extend([numpy_helper.from_array(np.array([0.5, 0.4, 0.3], np.float32), "mean"),
                               numpy_helper.from_array(np.array([0.25, 0.2, 0.3], np.float32), "std")])
nhwc.graph.node[0].input[0] = "x_nchw"
for i, n in enumerate([helper.make_node("Sub", ["x", "mean"], ["x_centred"], name="normalization_sub"),
                       helper.make_node("Div", ["x_centred", "std"], ["x_normalized"], name="normalization_div"),
                       helper.make_node("Transpose", ["x_normalized"], ["x_nchw"], name="to_nchw", perm=[0, 3, 1, 2])]):
    nhwc.graph.node.insert(i, n)
onnx.checker.check_model(nhwc)
onnx.save(nhwc, os.path.join(good, "tiny_convnet_nhwc.onnx"))
half = onnx.load(os.path.join(good, "tiny_convnet.onnx"))
for i, t in enumerate(half.graph.initializer):
    half.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
half.graph.node[0].input[0] = "x_half"
half.graph.node[-1].output[0] = "y_half"
half.graph.node.insert(0, helper.make_node("Cast", ["x"], ["x_half"], name="to_half", to=TensorProto.FLOAT16))
half.graph.node.append(helper.make_node("Cast", ["y_half"], ["y"], name="to_float", to=TensorProto.FLOAT))
onnx.checker.check_model(half)
onnx.save(half, os.path.join(good, "tiny_convnet_half.onnx"))
