"""A small real run for the report tests, built once: a pipeline recipe (web job with labels and dedup → shard
job) over a WARC with good, duplicate, near-duplicate, short and non-HTML records; TensorBoard events written by
the trainer's own callback; a blend file as the mixture optimizer writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.pipelines.warc_factory import PNG_MAGIC, Page, good_html, write_warc

#: in the recipe's step order: the outputs a report over the run covers
STEPS = ("web", "web/dedup", "shards", "train", "mix")


def _pages() -> list[Page]:
    pages = [Page(f"https://example.org/valley/{i}", good_html(i)) for i in range(1, 13)]
    pages += [Page(f"https://mirror{k}.example.net/valley/1", good_html(1)) for k in range(3)]  # exact copies
    near = "The ferry across the lake was replaced by a new bridge that opened last spring after long delays."
    pages += [Page(f"https://copy.example.com/valley/2-{k}", good_html(2, extra=[near] * (k + 1))) for k in range(2)]
    pages += [Page(f"https://example.org/stub/{i}", good_html(20 + i, n_sentences=2)) for i in range(3)]  # < 50 words
    pages.append(Page("https://example.org/logo.png", PNG_MAGIC + b"\x00" * 64, headers=(("Content-Type", "image/png"),)))
    return pages


def _write_training(root: Path) -> None:
    """Two stages' scalars through training's TensorBoardCallback (the files a pretraining run leaves)."""
    from training.trainer import TensorBoardCallback

    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text("kind: pretrain\nstages:\n  - name: warmup\n  - name: anneal\n")
    for stage, steps, lr in (("warmup", 12, 3e-3), ("anneal", 6, 1e-3)):
        cb = TensorBoardCallback(root / stage / "tensorboard")
        cb.on_train_start(None)
        for step in range(1, steps + 1):
            loss = 10.0 / step + (1.0 if stage == "warmup" else 0.5)
            cb.on_step_end(None, {"step": step, "loss": loss, "lr": lr, "tokens_per_s": 1000.0 + step, "mfu": 0.1})
        cb.on_train_end(None)


def _write_mixture(root: Path, cells: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    weights = {c: round(1 / len(cells), 6) for c in cells}
    (root / "s1.blend.json").write_text(json.dumps({"format": "corpusforge.blend/1", "kind": "cell", "weights": weights}))
    fit = {"predicted": [2.1, 2.3, 2.0], "measured": [2.15, 2.25, 2.05]}
    (root / "fit.json").write_text(json.dumps(fit))
    # the mixture job's layout: an optimum per stage beside the natural shares, and held-out validation
    (root / "blends" / "s2-reasoning").mkdir(parents=True)
    groups = ["lang=en/edu=high", "lang=en/edu=mid", "lang=en/edu=low"]
    optimum = {"stage": "s2-reasoning", "predicted": 2.01, "natural_predicted": 2.2, "groups": groups,
               "weights": [0.7, 0.2, 0.1], "natural": [0.2, 0.5, 0.3]}  # fmt: skip
    (root / "blends" / "s2-reasoning" / "optimum.json").write_text(json.dumps(optimum))
    held = {"spearman_heldout": {"n": 2, "rho": 1.0, "predicted": [2.0, 2.4], "measured": [2.1, 2.5]}}
    (root / "validate.json").write_text(json.dumps(held))


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    from corpusforge.cli import build_app

    root = tmp_path_factory.mktemp("report-run")
    write_warc(root / "sample.warc.gz", _pages())
    (root / "web.yaml").write_text(
        f"name: web\ninputs: ['{root}/sample.warc.gz']\noutput: {root}/web\nengine: {{kind: local, workers: 1}}\n"
        "write: {batch_rows: 4}\n"  # several row groups, so the sampling has groups to choose from
        "labels: {heads: [domain, edu, toxicity], quality: true}\n"
        "dedup: {fuzzy: {verify: {enabled: true, threshold: 0.5}}}\n"
    )
    (root / "shard.yaml").write_text(
        f"kind: shard\nname: shards\ninputs: ['{root}/web/dedup/documents']\noutput: {root}/shards\n"
        "engine: {kind: local, workers: 1}\nshard: {cells: {keys: [lang, edu], min_documents: 2}}\n"
    )
    (root / "main.yaml").write_text(f"kind: pipeline\nname: main\nsteps: ['{root}/web.yaml', '{root}/shard.yaml']\n")
    result = CliRunner().invoke(build_app(), ["run", str(root / "main.yaml")])
    assert result.exit_code == 0, result.output
    (root / "run.log").write_text(result.output)
    _write_training(root / "train")
    manifest = json.loads((root / "shards" / "manifest.json").read_text())
    _write_mixture(root / "mix", sorted(manifest["cells"]))
    return root
