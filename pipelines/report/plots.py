"""Small matplotlib figures as inline SVG strings: text stays text (small, selectable), no external file."""

from __future__ import annotations

import io
import itertools
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # noqa: E402 - before pyplot: a report is written on headless machines
import matplotlib.pyplot as plt  # noqa: E402

KEPT, DROPPED, ACCENT = "#3b7dd8", "#d9534f", "#5cb85c"
PALETTE = ("#3b7dd8", "#f0ad4e", "#5cb85c", "#d9534f", "#8e6cc4", "#5bc0de", "#999999")


class Figures:
    """Renders figures with ids unique within one page (matplotlib derives SVG ids from a salt and the content,
    so two identical plots in one page would otherwise share ids)."""

    def __init__(self) -> None:
        self._n = itertools.count()

    @contextmanager
    def figure(self, width: float = 6.4, height: float = 3.0):
        with plt.rc_context(
            {
                "svg.fonttype": "none",
                "svg.hashsalt": f"cf{next(self._n)}",
                "font.size": 9,
                "axes.spines.top": False,
                "axes.spines.right": False,
            }
        ):
            fig, ax = plt.subplots(figsize=(width, height))
            try:
                yield fig, ax
            finally:
                plt.close(fig)

    @staticmethod
    def svg(fig) -> str:
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        text = buf.getvalue()
        return text[text.index("<svg") :]

    def waterfall(self, stages: list[dict], kept: int, title: str) -> str:
        """Documents remaining after each stage (blue) and removed by it (red), read first, kept last."""
        labels = [s["stage"] for s in stages]
        height = 0.9 + 0.32 * (len(labels) + 2)
        with self.figure(6.4, height) as (fig, ax):
            rows = list(range(len(labels) + 2))[::-1]
            first = stages[0]["inputs"] if stages else kept
            ax.barh(rows[0], first, color="#777777")
            for row, s in zip(rows[1:-1], stages, strict=True):
                left = s["inputs"] - s["removed"]
                ax.barh(row, left, color=KEPT)
                ax.barh(row, s["removed"], left=left, color=DROPPED)
                ax.text(s["inputs"], row, f"  −{s['removed']:,}", va="center", fontsize=8)
            ax.barh(rows[-1], kept, color=ACCENT)
            ax.text(kept, rows[-1], f"  {kept:,}", va="center", fontsize=8)
            ax.text(first, rows[0], f"  {first:,}", va="center", fontsize=8)
            ax.set_yticks(rows, ["input", *labels, "kept"])
            ax.set_xlim(0, max(first, 1) * 1.18)
            ax.set_xlabel("documents")
            ax.set_title(title, fontsize=9, loc="left")
            return self.svg(fig)

    def bars(
        self, counts: dict[str, float], title: str, xlabel: str = "documents", top: int = 15, reference=None
    ) -> str:
        """Horizontal bars, largest first; ``reference`` (same keys) is drawn as grey ticks, e.g. natural shares."""
        items = sorted(counts.items(), key=lambda kv: -kv[1])
        if len(items) > top:
            items = items[: top - 1] + [("(other)", sum(v for _, v in items[top - 1 :]))]
        with self.figure(4.6, 0.7 + 0.24 * max(len(items), 1)) as (fig, ax):
            names = [_short(k) for k, _ in items][::-1]
            values = [v for _, v in items][::-1]
            ax.barh(range(len(items)), values, color=KEPT)
            ax.set_yticks(range(len(items)), names)
            if reference:
                ref = [reference.get(k, 0.0) for k, _ in items][::-1]
                ax.scatter(ref, range(len(items)), marker="|", s=120, color="#555555", label="natural", zorder=3)
                ax.legend(fontsize=7, frameon=False, loc="lower right")
            for i, v in enumerate(values):
                ax.text(v, i, f" {v:,.0f}" if float(v).is_integer() else f" {v:.3g}", va="center", fontsize=7)
            ax.set_xlim(0, max([*values, *(reference or {}).values()] or [1]) * 1.2)
            ax.set_xlabel(xlabel)
            ax.set_title(title, fontsize=9, loc="left")
            return self.svg(fig)

    def histogram(self, values: list[float], title: str, xlabel: str, log: bool = False, bins: int = 30) -> str:
        with self.figure(4.6, 2.4) as (fig, ax):
            import numpy as np

            data = np.asarray(values, dtype=float)
            if log:
                data = np.log10(np.clip(data, 1, None))
                xlabel = f"log10 {xlabel}"
            ax.hist(data, bins=bins, color=KEPT)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("documents")
            ax.set_title(title, fontsize=9, loc="left")
            return self.svg(fig)

    def lines(self, stages: dict[str, list[tuple[int, float]]], title: str, ylabel: str, log: bool = False) -> str:
        """One series per training stage, steps continued across stages so the run reads left to right."""
        with self.figure(4.6, 2.4) as (fig, ax):
            offset = 0
            for color, (name, points) in zip(itertools.cycle(PALETTE), stages.items()):
                if points:
                    steps = [offset + s for s, _ in points]
                    ax.plot(steps, [v for _, v in points], color=color, label=name, lw=1.2)
                    offset = steps[-1]
            if log:
                ax.set_yscale("log")
            ax.set_xlabel("step (stages in order)")
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=9, loc="left")
            ax.legend(fontsize=7, frameon=False)
            return self.svg(fig)

    def scatter(self, predicted: list[float], measured: list[float], title: str) -> str:
        with self.figure(3.6, 3.0) as (fig, ax):
            ax.scatter(predicted, measured, s=14, color=KEPT)
            lo, hi = min(predicted + measured), max(predicted + measured)
            ax.plot([lo, hi], [lo, hi], color="#999999", lw=0.8, ls="--")
            ax.set_xlabel("predicted")
            ax.set_ylabel("measured")
            ax.set_title(title, fontsize=9, loc="left")
            return self.svg(fig)


def _short(name: str, limit: int = 38) -> str:
    return name if len(name) <= limit else "…" + name[-(limit - 1) :]
