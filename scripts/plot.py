#!/usr/bin/env python3
"""Plots AttentionWise runs and sweeps with matplotlib.

  scripts/plot.py runs/<run> [runs/<other> ...]   loss, accuracy and gradient average against step and
                                                  epoch (the paper's Fig. 9-10); several runs share figures
  scripts/plot.py --sweep reports/sweep.csv       accuracy against parameters (log scale), each point
                                                  labelled, marker size by milliseconds per step

Figures go to --out (default: the single run's folder, or reports/ for several runs and sweeps).
"""
import argparse
import csv
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError:  # pragma: no cover - depends on the machine
    # Debian's python3-matplotlib lives in the system interpreter; another python3 may come first on PATH.
    system_python = "/usr/bin/python3"
    if os.path.exists(system_python) and os.path.realpath(sys.executable) != os.path.realpath(system_python) \
            and not os.environ.get("AW_PLOT_REEXEC"):
        os.environ["AW_PLOT_REEXEC"] = "1"
        os.execv(system_python, [system_python] + sys.argv)
    sys.exit("plot.py: matplotlib is missing: run scripts/setup (Debian package python3-matplotlib)")


def read_csv(path):
    if not os.path.exists(path):
        raise SystemExit(f"plot.py: {path} does not exist (is this a run folder written by 'aw train'?)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def column(rows, name, cast=float):
    out = []
    for r in rows:
        v = r.get(name, "")
        try:
            out.append(cast(v))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return out


def label_of(run_dir):
    return os.path.basename(os.path.normpath(run_dir))


def plot_runs(run_dirs, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    runs = []
    for d in run_dirs:
        epochs = read_csv(os.path.join(d, "epochs.csv"))
        steps = read_csv(os.path.join(d, "steps.csv"))
        runs.append((label_of(d), epochs, steps))

    written = []

    # Per step: loss and gradient average (paper Fig. 9-10 use steps on the x axis).
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, _, steps in runs:
        if not steps:
            continue
        x = list(range(1, len(steps) + 1))
        ax_loss.plot(x, column(steps, "loss"), label=name, linewidth=1.2)
        ax_grad.plot(x, column(steps, "grad_mean"), label=name, linewidth=1.0)
    ax_loss.set(title="Training loss per step (batch mean NLL)", xlabel="step", ylabel="loss")
    ax_grad.set(title="First-layer gradient average per step", xlabel="step", ylabel="mean gradient")
    ax_grad.axhline(0.0, color="0.6", linewidth=0.8)
    for ax in (ax_loss, ax_grad):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "steps.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    # Per epoch: loss sum (the paper's Table 1 loss), test accuracy, last gradient average.
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, epochs, _ in runs:
        if not epochs:
            continue
        e = column(epochs, "epoch", int)
        axes[0].plot(e, column(epochs, "loss_sum"), marker="o", label=name)
        axes[1].plot(e, column(epochs, "test_accuracy"), marker="o", label=name)
        axes[2].plot(e, column(epochs, "last_grad_mean"), marker="o", label=name)
    axes[0].set(title="Loss (sum of batch means, as the paper)", xlabel="epoch", ylabel="loss")
    axes[1].set(title="Test accuracy", xlabel="epoch", ylabel="accuracy (%)")
    axes[2].set(title="Last gradient average", xlabel="epoch", ylabel="mean gradient")
    axes[2].axhline(0.0, color="0.6", linewidth=0.8)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    path = os.path.join(out_dir, "epochs.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)
    return written


def plot_sweep(sweep_csv, out_dir):
    rows = read_csv(sweep_csv)
    if not rows:
        raise SystemExit(f"plot.py: {sweep_csv} has no rows")
    os.makedirs(out_dir, exist_ok=True)
    params = column(rows, "parameters")
    acc = column(rows, "test_accuracy")
    ms = column(rows, "ms_per_step")
    names = [r.get("model", "?") for r in rows]
    status = [r.get("status", "") for r in rows]
    trained = [r.get("train_limit", "") for r in rows]
    finite_ms = [m for m in ms if not math.isnan(m) and m > 0]
    lo = math.log10(min(finite_ms)) if finite_ms else 0.0
    hi = math.log10(max(finite_ms)) if finite_ms else 1.0
    # Step times span several orders of magnitude: marker area grows with their logarithm.
    sizes = [40 + 460 * ((math.log10(m) - lo) / (hi - lo) if hi > lo else 1.0) if not math.isnan(m) and m > 0 else 40
             for m in ms]

    def fmt_ms(m):
        return f"{m / 1000:.1f} s/step" if m >= 1000 else f"{m:.0f} ms/step"

    fig, ax = plt.subplots(figsize=(9, 6))
    # A collapsed model (non-finite loss) is drawn at chance level with a cross; a model timed but not trained
    # (epochs 0) has no accuracy and is listed under the plot instead.
    collapsed = [st == "diverged" for st in status]
    untrained = [math.isnan(a) and not c for a, c in zip(acc, collapsed)]
    y = [10.0 if c else a for a, c in zip(acc, collapsed)]
    colors = ["tab:red" if n.startswith("control") or n.startswith("dia") else "tab:blue" for n in names]
    # Labels of points at nearly the same parameter count are stacked downwards so that they do not overlap.
    offsets = {}
    plotted = sorted((i for i in range(len(rows)) if not untrained[i]), key=lambda i: -y[i])
    span = (max(y[i] for i in plotted) - min(y[i] for i in plotted)) if plotted else 0.0
    for i in plotted:
        near = [j for j in offsets if abs(math.log10(params[j]) - math.log10(params[i])) < 0.02
                and abs(y[j] - y[i]) < 0.08 * span + 1e-9]
        offsets[i] = 6 - 22 * len(near)
    for i in range(len(rows)):
        if untrained[i]:
            continue
        ax.scatter([params[i]], [y[i]], s=sizes[i], c=colors[i], alpha=0.6, linewidths=0.8,
                   marker="X" if collapsed[i] else "o", edgecolors="black")
        note = " (collapsed)" if collapsed[i] else ""
        if trained[i]:
            note += f" ({int(float(trained[i])):,} train images)"
        timing = f"\n{fmt_ms(ms[i])}" if not math.isnan(ms[i]) else ""
        ax.annotate(f"{names[i]}{note}{timing}", (params[i], y[i]), textcoords="offset points",
                    xytext=(8, offsets[i]), fontsize=8)
    timed_only = [f"{names[i]} ({params[i]:,.0f} parameters, {fmt_ms(ms[i])})" for i in range(len(rows)) if untrained[i]]
    if timed_only:
        fig.text(0.01, 0.01, "Timed, not trained: " + "; ".join(timed_only), fontsize=8)
    ax.set_xscale("log")
    ax.set(xlabel="parameters (log scale)", ylabel="test accuracy (%)",
           title="Accuracy against parameters (marker area grows with log time per training step)")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout(rect=(0, 0.04 if timed_only else 0, 1, 1))
    path = os.path.join(out_dir, "sweep.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="run folders written by 'aw train' (runs/<run>)")
    parser.add_argument("--sweep", help="a sweep CSV written by 'aw sweep' (reports/sweep.csv)")
    parser.add_argument("--out", help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not args.runs and not args.sweep:
        parser.error("give one or more run folders, or --sweep reports/sweep.csv")
    written = []
    if args.runs:
        out = args.out or (args.runs[0] if len(args.runs) == 1 else "reports")
        written += plot_runs(args.runs, out)
    if args.sweep:
        out = args.out or os.path.dirname(os.path.abspath(args.sweep))
        written += plot_sweep(args.sweep, out)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
