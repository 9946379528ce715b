#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""SalUn in PyTorch, the seed's algorithm, for side-by-side checks of salun-demo.

    /usr/bin/python3 scripts/salun_pytorch.py --arch resnet18 --weights W.safetensors \
        --data DIR [--forget-class 0] [--subset K] [--epochs 5] [--threads 2]

Same data selection (first K images of every class, index order), normalisation, saliency mask
(eval mode, |grad of -CE| averaged over <= 5 forget batches, global top-threshold with ties kept),
two-phase loop (random other labels, masked grads, clip 100, SGD 0.1/0.9/5e-4) and metrics as
salun; shuffling and labels come from PyTorch's generator, so numbers agree statistically, not
bit for bit. Prints UA, RA, TUA, TRA, FQS and the seconds taken.
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2023, 0.1994, 0.2010]).view(1, 3, 1, 1)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=dt[v["dtype"]]).reshape(v["shape"])
        t = torch.from_numpy(arr.copy())
        out[k] = t.float() if t.is_floating_point() else t
    return out


def read_cifar(d, files):
    xs, ys = [], []
    for name in files:
        raw = np.fromfile(os.path.join(d, name), dtype=np.uint8).reshape(-1, 3073)
        ys.append(raw[:, 0].astype(np.int64))
        xs.append(raw[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs), np.concatenate(ys)


def resnet18():
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.head = nn.Module()
        self.head.fc = nn.Linear(512, 10)

    def forward(self, x):
        return self.head.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def batches(x, y, bs, shuffle, gen):
    idx = torch.randperm(len(y), generator=gen) if shuffle else torch.arange(len(y))
    for s in range(0, len(y), bs):
        j = idx[s:s + bs].numpy()
        xb = (torch.from_numpy(x[j]).float() / 255 - MEAN) / STD
        yield xb, torch.from_numpy(y[j])


def evaluate(model, x, y):
    model.eval()
    preds, probs = [], []
    with torch.no_grad():
        for xb, _ in batches(x, y, 100, False, None):
            p = F.softmax(model(xb), 1)
            probs.append(p)
            preds.append(p.argmax(1))
    return torch.cat(preds).numpy(), torch.cat(probs).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--forget-class", type=int, default=0)
    ap.add_argument("--subset", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threshold", type=float, default=0.75)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2048)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data if os.path.exists(os.path.join(a.data, "test_batch.bin")) else os.path.join(a.data, "cifar-10-batches-bin")
    xtr, ytr = read_cifar(d, [f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = read_cifar(d, ["test_batch.bin"])
    if a.subset:
        keep, count = [], [0] * 10
        for i, l in enumerate(ytr):
            if count[l] < a.subset:
                keep.append(i)
                count[l] += 1
        xtr, ytr = xtr[keep], ytr[keep]
    fc = a.forget_class
    xf, yf = xtr[ytr == fc], ytr[ytr == fc]
    xr, yr = xtr[ytr != fc], ytr[ytr != fc]

    model = resnet18() if a.arch == "resnet18" else VGG()
    model.load_state_dict(load_safetensors(a.weights))
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.time()

    # 1. saliency mask
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    sal = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    nb = 0
    for xb, yb in batches(xf, yf, 128, True, gen):
        if nb == 5:
            break
        model.zero_grad()
        (-F.cross_entropy(model(xb), yb)).backward()
        for n, p in model.named_parameters():
            sal[n] += p.grad.abs()
        nb += 1
    allv = torch.cat([sal[n].flatten() / nb for n in names])
    k = max(1, int(a.threshold * allv.numel()))
    cut = torch.topk(allv, k).values[-1]
    mask = {n: (sal[n] / nb >= cut).float() for n in names}

    # 2. two-phase loop
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    for _ in range(a.epochs):
        model.train()
        for phase, (x, y) in (("forget", (xf, yf)), ("retain", (xr, yr))):
            for xb, yb in batches(x, y, 128, True, gen):
                if phase == "forget":
                    r = torch.randint(0, 9, yb.shape, generator=gen)
                    yb = r + (r >= fc).long()
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                for n, p in model.named_parameters():
                    p.grad *= mask[n]
                torch.nn.utils.clip_grad_norm_(model.parameters(), 100)
                opt.step()
    seconds = time.time() - t0

    # 3. metrics
    def split_acc(x, y):
        pred, prob = evaluate(model, x, y)
        accs = [float((pred[y == c] == c).mean()) for c in range(10)]
        return accs, pred, prob

    accs, _, prob = split_acc(xtr, ytr)
    taccs, _, _ = split_acc(xte, yte)
    pf = prob[ytr == fc]
    ent = -(pf * np.log(np.clip(pf, 1e-30, None))).sum(1).mean() / math.log(10)
    others = [c for c in range(10) if c != fc]
    print(json.dumps({"UA": round(accs[fc], 3), "RA": round(float(np.mean([accs[c] for c in others])), 3),
                      "TUA": round(taccs[fc], 3), "TRA": round(float(np.mean([taccs[c] for c in others])), 3),
                      "FQS": round(min(1.0, float(ent)), 4), "seconds": round(seconds, 1),
                      "mask_fraction": round(float(sum(m.sum() for m in mask.values()) / allv.numel()), 4)}))


if __name__ == "__main__":
    main()
