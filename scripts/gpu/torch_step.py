#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch's training step on the GPU, measured as salun-cuda-step measures salun's.

    python3 scripts/gpu/torch_step.py [--arch resnet18|vgg16_bn|all] [--batch 128] [--warmup 5] [--reps 20]

Same models as bench/compare_pytorch.py (CIFAR ResNet-18 from torchvision with a 3x3 stem and no
max-pool; VGG-16-BN), same step: zero_grad, forward, cross_entropy, backward, SGD (lr 0.01,
momentum 0.9, weight decay 5e-4), random images already on the GPU, median of --reps steps after
--warmup, each ending with torch.cuda.synchronize(). PyTorch's defaults otherwise (cuDNN
benchmark off, TF32 allowed for convolutions, as salun). One JSON line per model.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_model(arch):
    if arch == "resnet18":
        import torchvision

        m = torchvision.models.resnet18(num_classes=10)
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
        return m
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, bias=True), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(512, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="all")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=20)
    a = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_step.py: PyTorch sees no CUDA device")
    dev = torch.device("cuda")
    for arch in (["resnet18", "vgg16_bn"] if a.arch == "all" else [a.arch]):
        torch.manual_seed(0)
        model = make_model(arch).to(dev).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(a.batch, 3, 32, 32, device=dev)
        y = (torch.arange(a.batch, device=dev) % 10)
        times = []
        for i in range(a.warmup + a.reps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            torch.cuda.synchronize()
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
        times.sort()
        med = times[len(times) // 2]
        print(json.dumps({"library": "pytorch " + torch.__version__, "arch": arch, "batch": a.batch,
                          "step_s": round(med, 6), "images_per_s": round(a.batch / med, 1),
                          "gpu": torch.cuda.get_device_name(0)}), flush=True)


if __name__ == "__main__":
    main()
