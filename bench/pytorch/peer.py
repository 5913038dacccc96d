#!/usr/bin/env python3
"""The PyTorch peer of AttentionWise's training-step benchmarks.

The same models as AttentionWise (../../../shared SPEC: control, attention-a ... attention-h), the same
initialisation (weights N(0, 0.02^2), biases 0, batchnorm 1/0), FP32 with TF32 off, Adam (lr 1e-3), inputs of
the Fashion-MNIST shape. It times whole training steps (forward, NLL loss, backward, Adam step) after a warm-up
and prints one JSON object per model on stdout:

  {"model": "control", "device": "cpu", "batch": 256, "threads": 2, "step_ms": 2100.0, "steps": 3, ...}

  peer.py --models control --batch 256 --device cpu --threads 2
  peer.py --models attention-b,attention-h --batch 4096 --device cuda
  peer.py --models attention-b --batch 4096 --formulation per-head   # the heads as modules and a torch.cat
  peer.py --layers --device cuda          # the per-layer benchmarks' layers: {"layer": ..., "pass": "forward", "ms": ...}
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


class AttentionHeads(nn.Module):
    """The heads of an element-wise attention layer: per head softmax over rows of X*Wx times softmax over columns of
    X*Wy, batchnorm without affine, X*R'; heads concatenated on channels (h*C + c): N x K*C x H x W."""

    def __init__(self, heads, c, h, w):
        super().__init__()
        self.heads, self.c = heads, c
        self.wx = nn.Parameter(torch.empty(heads, c, h, w))
        self.wy = nn.Parameter(torch.empty(heads, c, h, w))
        self.norm = nn.BatchNorm2d(heads * c, affine=False)

    def forward(self, x):
        n, c, h, w = x.shape
        xe = x.unsqueeze(1)                                   # N x 1 x C x H x W
        ox = torch.softmax(xe * self.wx, dim=-1)              # over the W columns of each row
        oy = torch.softmax(xe * self.wy, dim=-2)              # over the H rows of each column
        r = self.norm((ox * oy).reshape(n, self.heads * c, h, w))
        return (xe * r.reshape(n, self.heads, c, h, w)).reshape(n, self.heads * c, h, w)


class Head(nn.Module):
    """One head on its own: softmax over rows of X*Wx times softmax over columns of X*Wy, batchnorm of its C channels
    without affine (the same as that head's share of the layer's K*C-channel batchnorm), X*R'."""

    def __init__(self, c, h, w):
        super().__init__()
        self.wx = nn.Parameter(torch.empty(c, h, w))
        self.wy = nn.Parameter(torch.empty(c, h, w))
        self.norm = nn.BatchNorm2d(c, affine=False)

    def forward(self, x):
        return x * self.norm(torch.softmax(x * self.wx, dim=-1) * torch.softmax(x * self.wy, dim=-2))


class PerHeadAttentionHeads(nn.Module):
    """The same heads written as one module per head and a torch.cat (faster on CPUs than one 5-D broadcast)."""

    def __init__(self, heads, c, h, w):
        super().__init__()
        self.heads = nn.ModuleList([Head(c, h, w) for _ in range(heads)])

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=1)


# How the attention heads are written: "broadcast" (AttentionHeads) or "per-head" (PerHeadAttentionHeads).
FORMULATIONS = {"broadcast": AttentionHeads, "per-head": PerHeadAttentionHeads}
HEADS_CLASS = [AttentionHeads]


class AttentionLayer(nn.Module):
    """Element-wise attention: the heads, a 3x3 convolution back to C, skip, [BN], ReLU."""

    def __init__(self, heads, c, h, w, post_bn):
        super().__init__()
        self.heads = HEADS_CLASS[0](heads, c, h, w)
        self.conv = nn.Conv2d(heads * c, c, 3, 1, 1)
        self.bn = nn.BatchNorm2d(c) if post_bn else None

    def forward(self, x):
        y = self.conv(self.heads(x)) + x
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


def time_model(name, device, batch, steps, warmup, formulation="broadcast"):
    if name in ATTENTION and formulation == "fastest":
        # Both formulations of the heads, one step of each in turn (so that a busy machine slows both alike); the
        # faster median is the one reported, with both.
        rows = {f: time_model(name, device, batch, 0, warmup, f) for f in FORMULATIONS}
        runners = {f: rows[f].pop("_step") for f in FORMULATIONS}
        times = {f: [] for f in FORMULATIONS}
        for _ in range(steps):
            for f, run in runners.items():
                times[f].append(run())
        for f in FORMULATIONS:
            t = sorted(times[f])
            rows[f].update(step_ms=round(1e3 * t[len(t) // 2], 3), min_ms=round(1e3 * t[0], 3), steps=steps)
        best = min(FORMULATIONS, key=lambda f: rows[f]["step_ms"])
        row = rows[best]
        row["formulations"] = {f: rows[f]["step_ms"] for f in FORMULATIONS}
        return row
    HEADS_CLASS[0] = FORMULATIONS["broadcast" if formulation == "fastest" else formulation]
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

    def timed():
        t0 = time.perf_counter()
        step()
        sync()
        return time.perf_counter() - t0

    if steps == 0:
        return {"model": name, "device": device.type, "batch": batch, "threads": torch.get_num_threads(),
                "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
                "formulation": formulation if name in ATTENTION else None, "_step": timed}
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
        "formulation": formulation if name in ATTENTION else None,
    }


class Flatten(nn.Module):
    """A linear layer that sees a 4-D activation, as the models' classifiers do."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.flatten(1))


# The layers of AttentionWise's per-layer benchmarks (AttentionWise.Bench LayerBenchmarks, `AttentionWise.Bench layers`),
# at the same shapes: (module, input shape, whether the model asks for the input gradient).
LAYERS = {
    "control.conv1": (lambda: nn.Conv2d(1, 100, 3, 1, 1), (256, 1, 28, 28), False),
    "control.conv2": (lambda: nn.Conv2d(100, 100, 3, 1, 1), (256, 100, 28, 28), True),
    "control.conv3": (lambda: nn.Conv2d(100, 100, 2, 2, 0, bias=False), (256, 100, 28, 28), True),
    "control.conv4": (lambda: nn.Conv2d(100, 200, 3, 1, 1), (256, 100, 14, 14), True),
    "control.conv5": (lambda: nn.Conv2d(200, 200, 3, 1, 1), (256, 200, 14, 14), True),
    "control.conv6": (lambda: nn.Conv2d(200, 200, 2, 2, 0, bias=False), (256, 200, 14, 14), True),
    "control.relu2": (lambda: nn.ReLU(), (256, 100, 28, 28), True),
    "control.classifier": (lambda: Flatten(nn.Linear(200 * 7 * 7, 10)), (256, 200, 7, 7), True),
    "attention-b.layer": (lambda: AttentionLayer(8, 1, 28, 28, False), (4096, 1, 28, 28), True),
    "attention-h.layer": (lambda: AttentionLayer(16, 1, 28, 28, False), (4096, 1, 28, 28), True),
    "attention-b.heads": (lambda: AttentionHeads(8, 1, 28, 28), (4096, 1, 28, 28), True),
    "attention-h.heads": (lambda: AttentionHeads(16, 1, 28, 28), (4096, 1, 28, 28), True),
    "attention-b.conv": (lambda: nn.Conv2d(8, 1, 3, 1, 1), (4096, 8, 28, 28), True),
    "attention-h.conv": (lambda: nn.Conv2d(16, 1, 3, 1, 1), (4096, 16, 28, 28), True),
    "attention-a.bn": (lambda: nn.BatchNorm2d(1), (4096, 1, 28, 28), True),
    "attention-b.classifier": (lambda: Flatten(nn.Linear(28 * 28, 10)), (4096, 1, 28, 28), True),
}


def time_layer(name, device, batch_div, repeats, warmup):
    """Forward (building the graph, as in training) and backward of one layer, each the median of `repeats` calls after
    `warmup`; the backward runs again and again on one forward's graph, as AttentionWise's harness does."""
    make, shape, input_grad = LAYERS[name]
    torch.manual_seed(1)
    layer = make().to(device)
    init(layer)
    n = max(1, shape[0] // batch_div)
    x = torch.rand((n,) + shape[1:], device=device, requires_grad=input_grad)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def measure(fn):
        for _ in range(warmup):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        times.sort()
        return round(1e3 * times[len(times) // 2], 4), round(1e3 * times[0], 4)

    forward = measure(lambda: layer(x))
    y = layer(x)
    g = torch.rand_like(y) - 0.5
    backward = measure(lambda: y.backward(g, retain_graph=True))
    for pass_name, (ms, min_ms) in (("forward", forward), ("backward", backward)):
        yield {"layer": name, "pass": pass_name, "device": device.type, "batch": n, "ms": ms, "min_ms": min_ms,
               "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="control", help="comma-separated: control, attention-a ... attention-h")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps (the median is reported)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--formulation", default="fastest", choices=["fastest", *FORMULATIONS],
                    help="attention models: the heads as one 5-D broadcast, as one module per head and a torch.cat, or "
                         "both, one step of each in turn, reporting the faster (default)")
    ap.add_argument("--layers", nargs="?", const="all", default=None,
                    help="time the per-layer benchmarks' layers instead of training steps: all, or a comma-separated list")
    ap.add_argument("--batch-div", type=int, default=1, help="--layers: divide each layer's batch by this")
    ap.add_argument("--repeats", type=int, default=5, help="--layers: timed calls of each pass (the median is reported)")
    args = ap.parse_args()
    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.batch_div < 1 or args.repeats < 1:
        sys.exit("peer.py: --batch, --steps, --batch-div and --repeats must be at least 1, --warmup at least 0")
    layers = None
    if args.layers is not None:
        layers = list(LAYERS) if args.layers == "all" else [l.strip() for l in args.layers.split(",") if l.strip()]
        unknown = [l for l in layers if l not in LAYERS]
        if unknown:
            sys.exit(f"peer.py: unknown layer '{unknown[0]}' (known: {', '.join(LAYERS)})")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("peer.py: --device cuda, but PyTorch sees no CUDA device")
    import os
    torch.set_num_threads(args.threads if args.threads > 0 else (os.cpu_count() or 1))
    # FP32 everywhere: no TF32 in matrix products or convolutions.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    if layers is not None:
        for name in layers:
            for row in time_layer(name, device, args.batch_div, args.repeats, args.warmup):
                print(json.dumps(row), flush=True)
        return
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(json.dumps(time_model(name, device, args.batch, args.steps, args.warmup, args.formulation)), flush=True)


if __name__ == "__main__":
    main()
