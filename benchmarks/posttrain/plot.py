"""Plots for BENCHMARKS.md from the runs' metrics.jsonl / eval JSON: GRPO reward curve, budget curve.

    python benchmarks/posttrain/plot.py grpo out/posttrain/grpo-arith1/metrics.jsonl benchmarks/posttrain/grpo_reward.png
    python benchmarks/posttrain/plot.py budget out/posttrain/budget.json [OTHER.json@LABEL ...] benchmarks/posttrain/budget.png
    python benchmarks/posttrain/plot.py distill benchmarks/posttrain/results/strong benchmarks/posttrain/distill_strong.png
    python benchmarks/posttrain/plot.py warm benchmarks/posttrain/results/warm benchmarks/posttrain/distill_warm.png
    python benchmarks/posttrain/plot.py long benchmarks/posttrain/results/long benchmarks/posttrain/distill_long.png [200]
    python benchmarks/posttrain/plot.py grid benchmarks/posttrain/results/lr benchmarks/posttrain/distill_grid.png
    python benchmarks/posttrain/plot.py ids benchmarks/posttrain/results/ids benchmarks/posttrain/distill_ids.png
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def grpo(src, dest):
    rows = [json.loads(x) for x in Path(src).read_text().splitlines() if x.strip()]
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
    reward = [r["reward"] for r in rows]
    ax[0].plot(steps, reward, marker="o", alpha=0.5, label="per step")
    mean = [sum(reward[max(0, i - 9) : i + 1]) / len(reward[max(0, i - 9) : i + 1]) for i in range(len(reward))]
    ax[0].plot(steps, mean, color="C3", label="mean of last 10")
    ax[0].legend(fontsize=8)
    ax[0].set(title="mean reward per step", xlabel="step", ylim=(0, 1))
    ax[1].plot(steps, [r["kl"] for r in rows], marker="o", color="C1")
    ax[1].set(title="KL to reference (k3)", xlabel="step")
    ax[2].plot(steps, [r["response_len"] for r in rows], marker="o", color="C2")
    ax[2].set(title="response length (tokens)", xlabel="step")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


def budget(*args):
    """One curve per eval result (``train eval --budget ...``), labelled by its ``@LABEL`` suffix or its model path."""
    *srcs, dest = args
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for src in srcs:
        path, _, label = src.partition("@")
        data = json.loads(Path(path).read_text())
        xs = sorted(int(k) for k in data["budgets"])
        ys = [data["budgets"][str(x)]["accuracy"] for x in xs]
        ax.plot(xs, ys, marker="o", label=label or data.get("model", path))
    ax.set(title="accuracy vs thinking budget", xlabel="thinking budget (tokens)", ylabel="accuracy", ylim=(0, 1))
    if len(srcs) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


def distill(prefix, dest):
    """The stronger-teacher distillation: each arm's training loss against cumulative CPU-seconds (the off-policy
    arm starts after its teacher's answers), and the held-out accuracies."""
    r = Path(prefix).parent
    name = Path(prefix).name
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    start = json.loads((r / f"{name}-distill-off-teacher-cost.json").read_text())["cpu_s"]
    for arm, offset, label in (("on", 0.0, "on-policy: reverse KL"), ("off", start, "off-policy: SFT loss")):
        rows = [json.loads(x) for x in (r / f"{name}-distill-{arm}-metrics.jsonl").read_text().splitlines()]
        cpu, xs = offset, []
        for row in rows:
            cpu += row["step_cpu_s"]
            xs.append(cpu)
        ax[0].plot(xs, [row["loss"] for row in rows], marker=".", label=label)
    ax[0].axvline(start, color="grey", ls=":", lw=1)
    ax[0].set(title="training loss vs CPU-seconds (teacher included)", xlabel="CPU-s", yscale="log")
    ax[0].legend(fontsize=8)
    models = [("start", "base"), ("teacher", "teacher"), ("on-policy", "on"), ("off-policy", "off"), ("off @26", "off26")]
    acc = [json.loads((r / f"{name}-arith12-eval-{f}.json").read_text())["accuracy"]["accuracy"] for _, f in models]
    _bars(ax[1], [m for m, _ in models], acc, ["grey", "C2", "C0", "C1", "C1"], "held-out accuracy (300, greedy, last_number)")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


def _bars(ax, names, acc, colors, title):
    """Accuracies as bars, each labelled with its percentage."""
    ax.bar(names, acc, color=colors)
    for i, a in enumerate(acc):
        ax.text(i, a + 0.01, f"{a:.1%}", ha="center", fontsize=8)
    ax.set(title=title, ylim=(0, 1))


def _arms(r, name, names, acc, colors, title, dest):
    """The two arms' training loss against their own train-step CPU-seconds from W (the budget as a line), and
    the models' held-out accuracies as bars."""
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    for arm, label in (("on", "ON: reverse KL to the teacher"), ("off", "OFF: SFT loss on teacher answers")):
        rows = [json.loads(x) for x in (r / f"{name}-{arm}-metrics.jsonl").read_text().splitlines()]
        ax[0].plot([row["cpu_total_s"] for row in rows], [row["loss"] for row in rows], marker=".", label=label)
    ax[0].axvline(300, color="grey", ls=":", lw=1)
    ax[0].set(title="training loss from W vs train-step CPU-seconds", xlabel="CPU-s", yscale="log")
    ax[0].legend(fontsize=8)
    _bars(ax[1], names, acc, colors, title)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


def warm(prefix, dest):
    """On-policy after an off-policy warm start: both arms' loss from W, and the held-out accuracies of start, W,
    the arms and the teacher."""
    r, name = Path(prefix).parent, Path(prefix).name
    models = [("start", "strong-arith12-eval-base"), ("W", f"{name}-eval-w"), ("OFF", f"{name}-eval-off"),
              ("ON", f"{name}-eval-on"), ("teacher", f"{name}-eval-teacher")]  # fmt: skip
    acc = [json.loads((r / f"{f}.json").read_text())["accuracy"]["accuracy"] for _, f in models]
    _arms(r, name, [m for m, _ in models], acc, ["grey", "C7", "C1", "C0", "C2"],
          "held-out accuracy (300, greedy, last_number)", dest)  # fmt: skip


def long(prefix, dest, n="200"):
    """On-policy with long answers: as `warm`, the accuracies graded at thinking budget 64 on the first ``n``
    held-out questions (the teacher's from its budget run, cut to the same questions)."""
    r, name, n = Path(prefix).parent, Path(prefix).name, int(n)
    models = [("W", f"{name}-eval-w"), ("OFF", f"{name}-eval-off"), ("ON", f"{name}-eval-on"), ("teacher", "fusion72-budget-300")]  # fmt: skip
    acc = [sum(json.loads((r / f"{f}.json").read_text())["budgets"]["64"]["correct"][:n]) / n for _, f in models]
    _arms(r, name, [m for m, _ in models], acc, ["C7", "C1", "C0", "C2"],
          f"held-out accuracy ({n}, greedy, think budget 64, math)", dest)  # fmt: skip


def grid(prefix, dest):
    """Each arm at each learning rate: training loss from W against train-step CPU-seconds; then the accuracies of
    the picked runs on the 300 held-out and the 600 new questions (and the seed replicates where they exist)."""
    r, name = Path(prefix).parent, Path(prefix).name
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, rate in enumerate(("1e-5", "2e-5", "5e-5")):
        for arm, style in (("on", "-"), ("off", "--")):
            rows = [json.loads(x) for x in (r / f"{name}-{arm}-{rate}-metrics.jsonl").read_text().splitlines()]
            ax[0].plot([row["cpu_total_s"] for row in rows], [row["loss"] for row in rows], style, color=f"C{i}",
                       label=f"{arm.upper()} {rate}")  # fmt: skip
    ax[0].set(title="loss from W (ON: reverse KL, OFF: SFT) vs CPU-s", xlabel="train-step CPU-s", yscale="log")
    ax[0].legend(fontsize=7, ncol=2)
    bars = [("W\n300", "eval-w"), ("OFF\n300", "eval-off"), ("ON\n300", "eval-on"), ("OFF\n600", "test-off"),
            ("ON\n600", "test-on"), ("OFF s2\n600", "test-off-s2"), ("ON s2\n600", "test-on-s2")]  # fmt: skip
    bars = [(label, f) for label, f in bars if (r / f"{name}-{f}.json").is_file()]
    acc = [json.loads((r / f"{name}-{f}.json").read_text())["budgets"]["64"]["accuracy"] for _, f in bars]
    colors = ["C0" if "ON" in b else "C1" if "OFF" in b else "C7" for b, _ in bars]
    _bars(ax[1], [b for b, _ in bars], acc, colors, "accuracy (greedy, think budget 64, math)")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


def ids(prefix, dest):
    """Distillation on the teacher's own tokens: both seed pairs' loss from W' against train-step CPU-seconds, and
    every model's accuracy on the 600 new questions."""
    r, name = Path(prefix).parent, Path(prefix).name
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for arm, style, color in (("on", "-", "C0"), ("off", "-", "C1"), ("on-s2", "--", "C0"), ("off-s2", "--", "C1")):
        rows = [json.loads(x) for x in (r / f"{name}-{arm}-metrics.jsonl").read_text().splitlines()]
        ax[0].plot([row["cpu_total_s"] for row in rows], [row["loss"] for row in rows], style, color=color, label=arm.upper())
    ax[0].set(title="loss from W' (ON: reverse KL, OFF: SFT) vs CPU-s", xlabel="train-step CPU-s", yscale="log")
    ax[0].legend(fontsize=7, ncol=2)
    bars = [("W'", "w"), ("OFF", "off"), ("ON", "on"), ("OFF s2", "off-s2"), ("ON s2", "on-s2"), ("teacher", "teacher")]
    acc = [json.loads((r / f"{name}-test-{f}.json").read_text())["budgets"]["64"]["accuracy"] for _, f in bars]
    _bars(ax[1], [b for b, _ in bars], acc, ["C7", "C1", "C0", "C1", "C0", "C2"], "600 new questions (greedy, think budget 64, math)")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


if __name__ == "__main__":
    kinds = {"grpo": grpo, "budget": budget, "distill": distill, "warm": warm, "long": long, "grid": grid, "ids": ids}
    kinds[sys.argv[1]](*sys.argv[2:])
