"""Plots for BENCHMARKS.md from the runs' metrics.jsonl / eval JSON: GRPO reward curve, budget curve.

    python benchmarks/posttrain/plot.py grpo out/posttrain/grpo-arith1/metrics.jsonl benchmarks/posttrain/grpo_reward.png
    python benchmarks/posttrain/plot.py budget out/posttrain/budget.json benchmarks/posttrain/budget.png
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


def budget(src, dest):
    data = json.loads(Path(src).read_text())["budgets"]
    xs = sorted(int(k) for k in data)
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(xs, [data[str(x)]["accuracy"] for x in xs], marker="o")
    ax.set(title="accuracy vs thinking budget", xlabel="thinking budget (tokens)", ylabel="accuracy", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(dest, dpi=110)


if __name__ == "__main__":
    {"grpo": grpo, "budget": budget}[sys.argv[1]](sys.argv[2], sys.argv[3])
