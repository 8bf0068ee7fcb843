#!/usr/bin/env python3
"""Exports torchvision architectures with random weights (nothing can be downloaded here) to
ONNX as users do: torch.onnx.export, opset 13, dynamic batch, input [N,3,224,224] (one
[N,224,224,3], as TensorFlow exports lay images out), eval mode
(BatchNorm folded by the exporter). For speed and float-vs-ONNX Runtime checks on the seed
papers' architectures, and for fine-tuning every architecture users bring. Two small CIFAR-size
nets cover export patterns torchvision's do not: a MobileNetV1 whose classifier flattens with
x.view(x.size(0), -1) (a Shape/Gather/Concat/Reshape tail) and a SqueezeNet whose Fire modules
put BatchNorm after the Concat (not foldable into a convolution); a darknet-style net (Conv
without bias, BatchNorm, LeakyRelu 0.1, MaxPool) and one with the activations of other zoo
families as exporters write them (Mish as x*tanh(softplus(x)), GELU through Erf, ELU, SELU,
SiLU). Large files: written to OUT
(default models/generated/, not committed).

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
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(),
    "mobilenet_v1_cifar": lambda: MobileNetV1(),
    "squeezenet_bn_cifar": lambda: SqueezeNetBN(),
    "darknet_cifar": lambda: Darknet(),
    "activations_cifar": lambda: Activations(),
    # Further zoo families and export settings (scripts/zoo_check.sh): h-swish/SE, SiLU/SE and
    # 5x5 depthwise, grouped 8-channel convolutions with SE, Inception, dense Concat chains; other
    # opsets; a batch fixed at 1 (no dynamic_axes), as many exported files are.
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large(),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(),
    "mnasnet0_5": lambda: torchvision.models.mnasnet0_5(),
    "regnet_x_400mf": lambda: torchvision.models.regnet_x_400mf(),
    "regnet_y_400mf": lambda: torchvision.models.regnet_y_400mf(),
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True),
    "densenet121": lambda: torchvision.models.densenet121(),
    "shufflenet_v2_x0_5_opset11": lambda: torchvision.models.shufflenet_v2_x0_5(),
    "mobilenet_v2_opset17": lambda: torchvision.models.mobilenet_v2(),
    "squeezenet1_0_opset9": lambda: torchvision.models.squeezenet1_0(),
    "resnet18_batch1": lambda: torchvision.models.resnet18(),
    # LayerNorm over channels (decomposed at opset 13, LayerNormalization at 17), GELU through
    # Erf, 7x7 depthwise, layer scale; 32-group bottlenecks; fused MBConv (a 3x3 expansion).
    "convnext_tiny": lambda: torchvision.models.convnext_tiny(),
    "convnext_tiny_opset17": lambda: torchvision.models.convnext_tiny(),
    "resnext50_32x4d": lambda: torchvision.models.resnext50_32x4d(),
    "efficientnet_v2_s": lambda: torchvision.models.efficientnet_v2_s(),
    # The TensorFlow/Keras layout: an [N, 224, 224, 3] input, a per-channel Rescaling on it, then a
    # Transpose into the NCHW network.
    "mobilenet_v2_channels_last": lambda: ChannelsLast(torchvision.models.mobilenet_v2()),
    # Opset 7, as the ONNX model zoo's oldest files: MaxPool and BatchNormalization (spatial)
    # before their opset-8 and 9 forms.
    "squeezenet1_1_opset7": lambda: torchvision.models.squeezenet1_1(),
    "densenet121_opset7": lambda: torchvision.models.densenet121(),
}
OPSETS = {"shufflenet_v2_x0_5_opset11": 11, "mobilenet_v2_opset17": 17, "squeezenet1_0_opset9": 9,
          "convnext_tiny_opset17": 17, "squeezenet1_1_opset7": 7, "densenet121_opset7": 7}  # others 13
FIXED_BATCH = {"resnet18_batch1"}
CHANNELS_LAST = {"mobilenet_v2_channels_last"}
SIZES = {"mobilenet_v1_cifar": 32, "squeezenet_bn_cifar": 32, "darknet_cifar": 32, "activations_cifar": 32}  # others 224


def conv_bn(cin, cout, stride, groups=1):
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3 if groups > 1 or cin == 3 else 1, stride,
                                               1 if groups > 1 or cin == 3 else 0, groups=groups, bias=False),
                               torch.nn.BatchNorm2d(cout), torch.nn.ReLU(inplace=True))


class MobileNetV1(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        layers, cin = [conv_bn(3, 32, 1)], 32
        for cout, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]:
            layers += [conv_bn(cin, cin, stride, groups=cin), conv_bn(cin, cout, 1)]
            cin = cout
        self.features = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1))
        self.fc = torch.nn.Linear(cin, classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))


class Fire(torch.nn.Module):
    def __init__(self, cin, squeeze, expand):
        super().__init__()
        self.squeeze = torch.nn.Sequential(torch.nn.Conv2d(cin, squeeze, 1), torch.nn.ReLU(inplace=True))
        self.e1 = torch.nn.Conv2d(squeeze, expand, 1)
        self.e3 = torch.nn.Conv2d(squeeze, expand, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(2 * expand)  # after the Concat: no convolution to fold into

    def forward(self, x):
        s = self.squeeze(x)
        return torch.relu(self.bn(torch.cat([self.e1(s), self.e3(s)], 1)))


class SqueezeNetBN(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU(inplace=True),
                                            Fire(64, 16, 64), torch.nn.MaxPool2d(3, 2, ceil_mode=True),
                                            Fire(128, 32, 128), torch.nn.MaxPool2d(3, 2, ceil_mode=True),
                                            Fire(256, 48, 192))
        self.classifier = torch.nn.Sequential(torch.nn.Conv2d(384, classes, 1), torch.nn.ReLU(inplace=True),
                                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    def forward(self, x):
        return self.classifier(self.features(x))


class Darknet(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        layers, cin = [], 3
        for cout, pool in [(32, True), (64, True), (128, False), (64, False), (128, True), (256, False)]:
            layers += [torch.nn.Conv2d(cin, cout, 3 if cout != 64 or cin == 3 else 1, 1, 1 if cout != 64 or cin == 3 else 0,
                                       bias=False), torch.nn.BatchNorm2d(cout), torch.nn.LeakyReLU(0.1)]
            if pool:
                layers.append(torch.nn.MaxPool2d(2, 2))
            cin = cout
        self.features = torch.nn.Sequential(*layers)
        self.head = torch.nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.head(self.features(x)), 1), 1)


class Activations(torch.nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        acts = [torch.nn.Mish(), torch.nn.GELU(), torch.nn.ELU(0.7), torch.nn.SELU(), torch.nn.SiLU()]
        layers, cin = [], 3
        for i, (cout, act) in enumerate(zip([16, 32, 32, 64, 64], acts)):
            layers += [torch.nn.Conv2d(cin, cout, 3, 2 if i in (1, 3) else 1, 1), torch.nn.BatchNorm2d(cout), act]
            cin = cout
        self.features = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.fc = torch.nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.tanh(self.features(x)))


class ChannelsLast(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.tensor([1.1, 0.9, 1.0]))
        self.register_buffer("offset", torch.tensor([0.05, -0.05, 0.0]))

    def forward(self, x):
        return self.net((x * self.scale + self.offset).permute(0, 3, 1, 2))


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
        size = SIZES.get(name, 224)
        shape = (1, size, size, 3) if name in CHANNELS_LAST else (1, 3, size, size)
        torch.onnx.export(model, torch.zeros(*shape), path, opset_version=OPSETS.get(name, 13),
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes=None if name in FIXED_BATCH else {"input": {0: "N"}, "logits": {0: "N"}})
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
