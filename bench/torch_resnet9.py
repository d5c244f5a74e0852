#!/usr/bin/env python3
"""PyTorch mirror of lepton.models.resnet9 (src/models/index.ts), timed like lepton's bench.

Same layers and widths: bias-free 3x3 'same' convolutions, batch norm (momentum 0.9 in Keras terms =
0.1 in PyTorch's, epsilon 1e-3 as in tfjs-layers), ReLU, 2x2 max pools, two residual blocks, global
max pool, dense logits with bias, scaled by 0.125. The trainable parameter count is printed so the
caller can assert it equals lepton's (412,954 at width 16).

Random CIFAR-shaped data (speed does not depend on the pixels), SGD with momentum 0.9, batch 64:
one warm-up epoch, then `epochs` timed ones.

usage: torch_resnet9.py [--width 16] [--samples 512] [--epochs 2] [--batch 64] [--threads 1]
prints: "params N", then "epoch k train X samples/s", then one JSON line.
"""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--width", type=int, default=16)
p.add_argument("--samples", type=int, default=512)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--params-only", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def conv_bn(cin, cout, pool=False):
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c), conv_bn(c, c))

    def forward(self, x):
        return x + self.body(x)


class ResNet9(nn.Module):
    def __init__(self, w, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, w), conv_bn(w, 2 * w, pool=True), Residual(2 * w),
            conv_bn(2 * w, 4 * w, pool=True), conv_bn(4 * w, 8 * w, pool=True), Residual(8 * w),
        )
        self.dense = nn.Linear(8 * w, classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.amax(x, dim=(2, 3))  # global max pool (lepton: one max pool over the whole 4x4 map)
        return self.dense(x) * 0.125


net = ResNet9(a.width)
params = sum(t.numel() for t in net.parameters() if t.requires_grad)
print(f"params {params}", flush=True)
if a.params_only:
    raise SystemExit(0)

x = torch.randn(a.samples, 3, 32, 32)
y = torch.randint(0, 10, (a.samples,))
crit = nn.CrossEntropyLoss()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
runs = []
for ep in range(a.epochs + 1):
    perm = torch.randperm(a.samples)
    net.train()
    t0 = time.perf_counter()
    for i in range(0, a.samples, a.batch):
        idx = perm[i:i + a.batch]
        opt.zero_grad()
        loss = crit(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    if ep > 0:  # the first epoch is the warm-up
        runs.append(a.samples / dt)
        print(f"epoch {ep} train {a.samples / dt:.1f} samples/s ({dt:.2f}s)", flush=True)
print(json.dumps({"model": f"resnet9_w{a.width}", "params": params, "threads": a.threads, "train_sps": runs, "torch": torch.__version__}))
