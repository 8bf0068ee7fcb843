#!/usr/bin/env python3
"""Exports torchvision architectures with random weights (nothing can be downloaded here) to
ONNX as users do: torch.onnx.export, opset 13, dynamic batch, input [N,3,224,224], eval mode
(BatchNorm folded by the exporter). For speed and float-vs-ONNX Runtime checks on the seed
papers' architectures. Large files: written to OUT (default models/generated/, not committed).

  /usr/bin/python3 models/make_torchvision_models.py [OUT] [--only resnet18,...]
"""
import argparse
import os

import torch
import torchvision

MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(),
    "resnet50": lambda: torchvision.models.resnet50(),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(),
    "shufflenet_v2_x1_0": lambda: torchvision.models.shufflenet_v2_x1_0(),
    "squeezenet1_1": lambda: torchvision.models.squeezenet1_1(),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = args.only.split(",") if args.only else list(MODELS)
    for name in names:
        torch.manual_seed(0)
        model = MODELS[name]().eval()
        # Random BN statistics so the folded weights are not trivially uniform.
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        path = os.path.join(args.out, name + ".onnx")
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
