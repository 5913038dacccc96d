#!/usr/bin/env python3
"""The PyTorch peer of AttentionWise's training-step benchmarks.

The same models as AttentionWise (../../../shared SPEC: control, attention-a ... attention-h), the same
initialisation (weights N(0, 0.02^2), biases 0, batchnorm 1/0), FP32 with TF32 off, Adam (lr 1e-3), inputs of
the Fashion-MNIST shape. It times whole training steps (forward, NLL loss, backward, Adam step) after a warm-up
and prints one JSON object per model on stdout:

  {"model": "control", "device": "cpu", "batch": 256, "threads": 2, "step_ms": 2100.0, "steps": 3, ...}

  peer.py --models control --batch 256 --device cpu --threads 2
  peer.py --models attention-b,attention-h --batch 4096 --device cuda
"""
import argparse
import json
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("peer.py: PyTorch is not installed for this python3 (Debian: apt-get install python3-torch)")

ATTENTION = {  # heads, layers, batchnorm after each layer's convolution
    "attention-a": (8, 2, True), "attention-b": (8, 2, False),
    "attention-c": (16, 2, True), "attention-d": (16, 2, False),
    "attention-e": (8, 4, True), "attention-f": (8, 4, False),
    "attention-g": (16, 4, True), "attention-h": (16, 4, False),
}


class Control(nn.Module):
    """The VGG-like baseline: six convolutions with ReLU (two of them 2x2 stride 2 without bias), a linear classifier."""

    def __init__(self, c=1, h=28, w=28):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(c, 100, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(100, 100, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(100, 100, 2, 2, 0, bias=False), nn.ReLU(),
            nn.Conv2d(100, 200, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(200, 200, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(200, 200, 2, 2, 0, bias=False), nn.ReLU(),
        )
        self.classifier = nn.Linear(200 * (h // 4) * (w // 4), 10)

    def forward(self, x):
        return F.log_softmax(self.classifier(self.features(x).flatten(1)), dim=1)


class AttentionLayer(nn.Module):
    """Element-wise attention: per head softmax over rows of X*Wx times softmax over columns of X*Wy, batchnorm
    without affine, X*R'; heads concatenated on channels (h*C + c), a 3x3 convolution back to C, skip, [BN], ReLU."""

    def __init__(self, heads, c, h, w, post_bn):
        super().__init__()
        self.heads, self.c = heads, c
        self.wx = nn.Parameter(torch.empty(heads, c, h, w))
        self.wy = nn.Parameter(torch.empty(heads, c, h, w))
        self.norm = nn.BatchNorm2d(heads * c, affine=False)
        self.conv = nn.Conv2d(heads * c, c, 3, 1, 1)
        self.bn = nn.BatchNorm2d(c) if post_bn else None

    def forward(self, x):
        n, c, h, w = x.shape
        xe = x.unsqueeze(1)                                   # N x 1 x C x H x W
        ox = torch.softmax(xe * self.wx, dim=-1)              # over the W columns of each row
        oy = torch.softmax(xe * self.wy, dim=-2)              # over the H rows of each column
        r = self.norm((ox * oy).reshape(n, self.heads * c, h, w))
        z = (xe * r.reshape(n, self.heads, c, h, w)).reshape(n, self.heads * c, h, w)
        y = self.conv(z) + x
        if self.bn is not None:
            y = self.bn(y)
        return F.relu(y)


class Attention(nn.Module):
    def __init__(self, heads, layers, post_bn, c=1, h=28, w=28):
        super().__init__()
        self.layers = nn.Sequential(*[AttentionLayer(heads, c, h, w, post_bn) for _ in range(layers)])
        self.classifier = nn.Linear(c * h * w, 10)

    def forward(self, x):
        return F.log_softmax(self.classifier(self.layers(x).flatten(1)), dim=1)


def init(model):
    """SPEC 4: every conv, linear and x/y weight N(0, 0.02^2); every bias 0; batchnorm weight 1, bias 0."""
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            nn.init.zeros_(p)
        elif ".bn." in name or name.startswith("bn."):
            nn.init.ones_(p)
        else:
            nn.init.normal_(p, 0.0, 0.02)


def build(name):
    if name == "control":
        return Control()
    if name in ATTENTION:
        return Attention(*ATTENTION[name])
    raise SystemExit(f"peer.py: unknown model '{name}' (control, {', '.join(ATTENTION)})")


def time_model(name, device, batch, steps, warmup):
    torch.manual_seed(1)
    model = build(name).to(device)
    init(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(warmup):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "model": name, "device": device.type, "batch": batch, "threads": torch.get_num_threads(),
        "step_ms": round(1e3 * times[len(times) // 2], 3), "min_ms": round(1e3 * times[0], 3),
        "steps": steps, "loss": float(loss), "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="control", help="comma-separated: control, attention-a ... attention-h")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps (the median is reported)")
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        sys.exit("peer.py: --batch and --steps must be at least 1, --warmup at least 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("peer.py: --device cuda, but PyTorch sees no CUDA device")
    import os
    torch.set_num_threads(args.threads if args.threads > 0 else (os.cpu_count() or 1))
    # FP32 everywhere: no TF32 in matrix products or convolutions.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(json.dumps(time_model(name, device, args.batch, args.steps, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
