"""Which job outputs a report covers: an output directory's kind, a pipeline recipe's step outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from corpusforge.errors import InputError

RECORDS, DEDUP, SHARDS, TRAINING, MIXTURE = "records", "dedup", "shards", "training", "mixture"


@dataclass(frozen=True)
class Output:
    """One job output directory and what it holds (a dedup output is also a records output)."""

    path: Path
    kinds: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return str(self.path)


def kinds_of(path: Path) -> frozenset[str]:
    kinds = set()
    if (path / "documents").is_dir() and ((path / "funnel.json").is_file() or (path / "ledger").is_dir()):
        kinds.add(RECORDS)
    if (path / "summary.json").is_file() and (path / "clusters.jsonl").is_file():
        kinds.add(DEDUP)
    if (path / "manifest.json").is_file():
        kinds.add(SHARDS)
        kinds.discard(RECORDS)
    if any(path.glob("*/tensorboard")) or any(path.glob("*/metrics.jsonl")):
        kinds.add(TRAINING)
    if mixture_files(path):
        kinds.add(MIXTURE)
    return frozenset(kinds)


def is_synthetic(output: Output) -> bool:
    """A synth job's output (or its chained dedup/): its documents are generated, not the corpus itself."""
    for folder in (output.path, output.path.parent):
        config = folder / "config.yaml"
        if config.is_file():
            try:
                return (yaml.safe_load(config.read_text()) or {}).get("kind") == "synth"
            except (OSError, yaml.YAMLError, AttributeError):
                return False
    return False


def mixture_files(path: Path) -> list[Path]:
    """A mixture optimizer's JSON outputs: blend files (``corpusforge.blend/1``), per-stage optima
    (``blends/<stage>/optimum.json``: groups, weights, natural) and predicted-vs-measured (``validate.json``)."""
    found = []
    candidates = sorted(path.glob("*.json")) + sorted(path.glob("*/*.json")) + sorted(path.glob("blends/*/optimum.json"))
    for p in candidates:
        if p.name in {"funnel.json", "manifest.json", "summary.json"} or p.stat().st_size > 5_000_000:
            continue
        head = p.read_text(errors="replace")[:4000]
        if "corpusforge.blend" in head or '"weights"' in head or '"predicted"' in head:
            found.append(p)
    return found


def resolve(paths: list[Path], strict: bool = True) -> list[Output]:
    """Each given directory (or pipeline recipe), plus a web job's chained ``dedup/``; an unknown one fails
    (``strict``) or is left out."""
    out: list[Output] = []
    for given in paths:
        candidates = pipeline_outputs(given) if given.is_file() else [given]
        for path in candidates:
            if not path.is_dir():
                if not strict:
                    continue
                raise InputError(str(path), "is not a job output directory")
            chained = [path] + ([path / "dedup"] if (path / "dedup").is_dir() else [])
            for p in chained:
                kinds = kinds_of(p)
                if not kinds and not strict:
                    continue
                if not kinds:
                    raise InputError(str(p), "holds no job output (funnel.json, manifest.json, tensorboard/ ...)")
                if all(o.path.resolve() != p.resolve() for o in out):
                    out.append(Output(p, kinds))
    return out


def pipeline_outputs(recipe: Path) -> list[Path]:
    """The output directories of a recipe (a ``kind: pipeline`` recipe: of each step), read without running."""
    try:
        data = yaml.safe_load(recipe.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(str(recipe), f"is not a readable recipe: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(str(recipe), "is not a recipe (a YAML mapping)")
    if data.get("kind") != "pipeline":
        return [Path(data["output"])] if "output" in data else []
    outs = []
    for step in data.get("steps", []):
        path = Path(step if isinstance(step, str) else step.get("recipe", ""))
        overrides = {} if isinstance(step, str) else step.get("set", {}) or {}
        if "output" in overrides:
            outs.append(Path(overrides["output"]))
        elif path.is_file():
            outs.extend(pipeline_outputs(path))
    return outs


def default_destination(outputs: list[Output]) -> Path:
    """One output: ``OUTPUT/report.html``; several: ``report.html`` in the folder they share."""
    if len(outputs) == 1:
        return outputs[0].path / "report.html"
    common = Path(os.path.commonpath([str(o.path.resolve()) for o in outputs]))
    return common / "report.html"
