"""Label cells: which shard a document goes to, and how cells too small to be worth a dataset are merged.

A cell is the tuple of a document's values for the configured keys (for example ``lang × domain × edu ×
source``); its dataset lives under ``cells/key=value/.../``. Missing labels read ``unknown``.

Merge rule (deterministic, from input document counts of the first pass): going from the last key to the first,
every cell whose group holds fewer than ``min_documents`` documents has that key replaced by ``other``, and the
groups are counted again before the next key. A small cell thus joins the nearest coarser cell that shares its
leading keys (``en/news/high/cc`` → ``en/news/high/other`` → ``en/news/other/other`` → ...); a cell that is big
enough keeps all its labels, and what is still small once every key is ``other`` stays as it is.
"""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field, field_validator

from annotators.bars import Bar, head_status
from annotators.fasttext_head import default_model_path
from annotators.taxonomy import edu_bucket
from corpusforge.config import Config

#: cell keys: record columns, and ``edu``, the coarse bucket of ``edu_score`` (annotators.taxonomy.edu_bucket)
CELL_KEYS = ("lang", "domain", "doc_format", "academic_field", "edu", "source", "pii")
#: cell keys whose values come from a trained head, which must pass its bar (annotators.bars) to key a cell
KEY_HEADS = {"domain": "domain", "doc_format": "format", "academic_field": "field", "edu": "edu"}
UNKNOWN = "unknown"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


class CellsConfig(Config):
    keys: list[str] = Field(default_factory=lambda: ["lang", "domain", "edu", "source"], min_length=1)
    min_documents: int = Field(1000, ge=0, description="Cells with fewer input documents are merged (see cells.py).")
    other: str = Field("other", min_length=1, description="The value a merged key takes.")
    gate: bool = Field(
        True, description="Key no cell on a head that fails its bar (its model card's figures, annotators/bars.py)."
    )
    fallback: list[str] = Field(
        default_factory=lambda: ["lang", "source"], min_length=1, description="Keys used when the gate drops all."
    )
    models: dict[str, str] = Field(
        default_factory=dict, description="Model file per head whose card the gate reads (default: the shipped one)."
    )
    bars: dict[str, list[Bar]] | None = Field(None, description="Bars per head; null: annotators.bars defaults.")

    @field_validator("keys", "fallback")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        bad = [k for k in value if k not in CELL_KEYS]
        if bad:
            raise ValueError(f"unknown cell key {bad[0]!r}; one of {', '.join(CELL_KEYS)}")
        if len(set(value)) != len(value):
            raise ValueError("a cell key is repeated")
        return value


def clean_value(value) -> str:
    """A label as it appears in a path: unsafe characters become ``_``, at most 64 characters."""
    if value is None or value == "":
        return UNKNOWN
    return _UNSAFE.sub("_", str(value))[:64]


def cell_values(keys: list[str], columns: dict[str, list]) -> list[tuple[str, ...]]:
    """The raw cell of every row of a batch given as column lists."""
    n = len(next(iter(columns.values())))
    per_key = []
    for key in keys:
        if key == "edu":
            per_key.append([edu_bucket(s) for s in columns["edu_score"]])
        else:
            per_key.append([clean_value(v) for v in columns[key]] if key in columns else [UNKNOWN] * n)
    return list(zip(*per_key, strict=True)) if per_key else [()] * n


def needed_columns(keys: list[str]) -> list[str]:
    return sorted({"edu_score" if k == "edu" else k for k in keys})


def merge_cells(counts: Counter, config: CellsConfig) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Raw cell → final cell by the rule in the module docstring."""
    target = {cell: cell for cell in counts}
    for position in reversed(range(len(config.keys))):
        sizes: Counter = Counter()
        for cell, to in target.items():
            sizes[to] += counts[cell]
        for cell, to in sorted(target.items()):
            if sizes[to] < config.min_documents and to[position] != config.other:
                target[cell] = (*to[:position], config.other, *to[position + 1 :])
    return target


def cell_name(keys: list[str], cell: tuple[str, ...]) -> str:
    return "/".join(f"{k}={v}" for k, v in zip(keys, cell, strict=True))


def cell_labels(keys: list[str], cell: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(keys, cell, strict=True))


def gate_keys(config: CellsConfig) -> tuple[list[str], dict]:
    """The keys cells use: configured keys minus those whose head fails its bar (``fallback`` if none is left),
    and a report of the decision for the manifest and the funnel."""
    if not config.gate:
        return list(config.keys), {"gate": False}
    dropped, heads = {}, {}
    for key in config.keys:
        head = KEY_HEADS.get(key)
        if head is None:
            continue
        status = head_status(head, config.models.get(head) or default_model_path(head), config.bars)
        heads[key] = {"head": head, "passed": status.passed, "why": status.reason()}
        if not status.passed:
            dropped[key] = status.reason()
    keys = [k for k in config.keys if k not in dropped]
    fallback = not keys
    keys = keys or list(config.fallback)
    report = {"gate": True, "requested": list(config.keys), "keys": keys, "heads": heads, "dropped": dropped}
    if dropped:
        report["note"] = (
            f"cells not keyed on {', '.join(dropped)}: their heads fail their bars; cells keyed on "
            f"{' x '.join(keys)}" + (" (the fallback keys)" if fallback else "")
        )
    return keys, report
