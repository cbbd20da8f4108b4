"""`corpusforge annotate report`: each record head's card figures against its bars, pass or fail."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from annotators.bars import Bar, default_bars, head_status, read_card
from annotators.fasttext_head import MODELS_DIR, RECORD_HEADS
from corpusforge.errors import ConfigError


def load_bars(path: Path | None) -> dict[str, list[Bar]]:
    """Default bars, with the heads named in ``path`` (YAML) replaced."""
    bars = default_bars()
    if path is None:
        return bars
    import yaml
    from pydantic import ValidationError

    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError("<root>", "the bars file must map head names to lists of bars", str(path))
    for head, items in raw.items():
        if head not in RECORD_HEADS:
            raise ConfigError(str(head), f"not a head; one of {', '.join(RECORD_HEADS)}", str(path))
        try:
            bars[head] = [Bar.model_validate(item) for item in items or []]
        except ValidationError as exc:
            raise ConfigError(f"{head}", exc.errors()[0]["msg"], str(path)) from None
    return bars


def head_report(models: Path | None = None, bars_path: Path | None = None) -> list[dict]:
    bars = load_bars(bars_path)
    rows = []
    for head in RECORD_HEADS:
        folder = models or MODELS_DIR
        # a head's cascade (labels.cascade: fastText screens, a contextual probe decides) is listed beside it
        cascade = folder / f"{head}.ctx.npz"
        for name, model in ((head, folder / f"{head}.ftz"), (f"{head} (cascade)", cascade)):
            if model == cascade and not cascade.is_file():
                continue
            card = read_card(model) or {}
            status = head_status(head, model, bars)
            rows.append({
                "head": name,
                "cascade": model == cascade,
                "model": str(model),
                "present": model.is_file(),
                "labels_from": card.get("labels_from"),
                "trained_at": card.get("trained_at"),
                "passed": status.passed,
                "checks": status.checks,
            })
    return rows


def print_head_report(rows: list[dict]) -> None:
    table = Table(title="label heads against their bars")
    for col in ("head", "bar", "figure", "baseline", "verdict"):
        table.add_column(col, justify="right" if col in ("figure", "baseline") else "left")
    for row in rows:
        checks = row["checks"] or [{"bar": "(no bars)", "figure": None, "baseline": None, "passed": True,
                                    "why": "passes"}]
        for i, check in enumerate(checks):
            verdict = "[green]pass[/green]" if check["passed"] else f"[red]FAIL[/red] {check['why']}"
            table.add_row(row["head"] if i == 0 else "", check["bar"], _fmt(check["figure"]),
                          _fmt(check["baseline"]), verdict)
        table.add_row("", "", "", "", "[bold green]PASSES[/bold green]" if row["passed"] else "[bold red]FAILS[/bold red]",
                      end_section=True)
    console = Console()
    console.width = max(console.width, 150)  # the bar and the reason stay on one line in a log
    console.print(table)
    failing = [r["head"] for r in rows if not r["passed"] and not r["cascade"]]
    console.print(
        f"failing: {', '.join(failing)} — the label stage flags them, shard cells are not keyed on them"
        if failing else "every head passes its bars"
    )
    cascades = [r["head"].removesuffix(" (cascade)") for r in rows if r["cascade"] and r["passed"]]
    if cascades:
        console.print(f"with labels.cascade, these heads pass: {', '.join(cascades)}")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
