"""The search space: documents of a shard manifest grouped by label cell x per-document feature quantile bins.

Read as files (``mixtures`` does not import ``pipelines``): ``manifest.json`` (``corpusforge.shards/1``, via
`training.data.Manifest`) and the per-document sidecar ``index/*.parquet`` (shard, doc_index, id, cell, labels,
edu_score, tokens, long_shard, long_index). Features the sidecar lacks (toxicity, lang_score, quality signals)
are joined by ``id`` from the record Parquet the shards were made from (``documents:``).

A group is ``<cell>|<feature>=q<k>|...``: its documents share a cell and a quantile bin of every feature
(``na`` when the value is missing). Bin edges are global quantiles over the corpus, so "edu_score=q1" means the
same documents in every cell. A fraction of documents (by a hash of their id, stable across runs) is held out:
never trained on, it forms the target sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError, InputError
from training.data import Manifest

#: columns a feature may read: the sidecar's, record columns joined by id, ``quality.<key>`` from the quality map
SIDECAR_NUMERIC = ("edu_score", "tokens")
RECORD_NUMERIC = ("toxicity", "adult", "lang_score", "domain_score")
LABEL_KEYS = ("lang", "domain", "doc_format", "academic_field", "source")


class SpaceError(InputError):
    """The manifest, sidecar or a target cannot define a search space."""


class FeatureBins(Config):
    column: str = Field(description="edu_score, tokens (length), toxicity, lang_score, adult or quality.<signal>.")
    bins: int = Field(2, ge=1, le=10)


class TargetSet(Config):
    name: str
    where: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Held-out documents whose labels match (key: value or [values])."
    )
    min_edu: float | None = Field(None, description="Only held-out documents with at least this edu_score.")


class SpaceConfig(Config):
    shards: str = Field(description="Shard folder (manifest.json + index/) or the manifest's path.")
    documents: list[str] = Field(
        default_factory=list, description="Record Parquet the shards came from (features absent from the sidecar)."
    )
    features: list[FeatureBins] = Field(
        default_factory=lambda: [FeatureBins(column="edu_score"), FeatureBins(column="tokens")]
    )
    holdout_fraction: float = Field(0.08, gt=0, lt=0.5, description="Documents held out as targets (by id hash).")
    targets_by: list[str] = Field(default_factory=lambda: ["source"], description="One target per value of these.")
    targets: list[TargetSet] = Field(default_factory=list, description="Extra target sets a user names.")
    min_target_documents: int = Field(3, ge=1)


@dataclass
class Space:
    """Documents (one row each, sidecar order) with their group, plus per-group facts."""

    manifest: Manifest
    docs: pa.Table  # shard, doc_index, id, cell, labels..., tokens, long_shard, long_index, group, holdout
    groups: list[str]
    group_labels: list[dict[str, str]]
    group_tokens: np.ndarray  # training (non-held-out) tokens per group
    natural: np.ndarray  # shares by training tokens
    doc_group: np.ndarray  # per document: group index
    holdout: np.ndarray  # per document: bool
    targets: dict[str, np.ndarray]  # target name -> document row indices (held out)
    edges: dict[str, list[float]]
    config: SpaceConfig

    def cells_only(self) -> Space:
        """The same documents grouped by cell alone (RegMix-style domain-level search)."""
        return build_space(self.config.model_copy(update={"features": []}), docs=self.docs, manifest=self.manifest)

    def select(self, selector: str) -> np.ndarray:
        return select(self.groups, self.group_labels, selector)


@dataclass
class CellView:
    """A space seen at cell level (RegMix-style domains): what `mixtures.optimize` needs of a `Space`."""

    groups: list[str]
    group_labels: list[dict[str, str]]
    group_tokens: np.ndarray
    natural: np.ndarray

    @classmethod
    def of(cls, space: Space) -> CellView:
        cells = [lab["cell"] for lab in space.group_labels]
        names = sorted(set(cells))
        tok = np.array([space.group_tokens[[c == n for c in cells]].sum() for n in names], dtype=float)
        labels = [{"cell": n, **dict(p.split("=", 1) for p in n.split("/") if "=" in p)} for n in names]
        return cls(names, labels, tok, tok / tok.sum())

    def select(self, selector: str) -> np.ndarray:
        return select(self.groups, self.group_labels, selector)


def select(groups: list[str], group_labels: list[dict[str, str]], selector: str) -> np.ndarray:
    """Groups matching ``key=value[,key=value]`` (``cell=``, any label, a feature's bin) or an exact group."""
    if selector in groups:
        return np.array([g == selector for g in groups])
    conds = []
    for part in selector.split(","):
        if "=" not in part:
            raise ConfigError("constraints", f"selector {selector!r}: expected key=value or a group name")
        k, v = part.split("=", 1)
        conds.append((k.strip(), v.strip()))
    mask = np.array([all(lab.get(k) == v for k, v in conds) for lab in group_labels])
    if not mask.any():
        raise ConfigError("constraints", f"selector {selector!r} matches no group")
    return mask


def _doc_hash(ids: list[str]) -> np.ndarray:
    return np.array([xxhash.xxh64_intdigest(i) % 1_000_000 for i in ids], dtype=np.int64) / 1_000_000


def read_sidecar(manifest: Manifest) -> pa.Table:
    files = sorted((manifest.root / "index").glob("*.parquet"))
    if not files:
        raise SpaceError(str(manifest.root / "index"), "no per-document sidecar (index/*.parquet) beside the manifest")
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    if table.num_rows == 0:
        raise SpaceError(str(manifest.root), "the manifest's sidecar lists no document")
    return table


def _join_records(table: pa.Table, paths: list[str], columns: list[str]) -> dict[str, np.ndarray]:
    """Feature columns from record Parquet, aligned to ``table``'s ids (NaN where a document is absent)."""
    from corpusforge.fs import expand

    files = [f for f in expand(paths) if f.endswith(".parquet")]
    if not files:
        raise ConfigError("documents", f"no Parquet file matches {paths}")
    plain = [c for c in columns if not c.startswith("quality.")]
    want = ["id", *plain, *(["quality"] if len(plain) < len(columns) else [])]
    values: dict[str, dict[str, float]] = {c: {} for c in columns}
    for f in files:
        names = pq.ParquetFile(f).schema_arrow.names
        t = pq.read_table(f, columns=[c for c in want if c in names]).to_pydict()
        for i, doc_id in enumerate(t["id"]):
            for c in columns:
                if c.startswith("quality."):
                    q = dict(t.get("quality", [None] * len(t["id"]))[i] or [])
                    v = q.get(c.split(".", 1)[1])
                else:
                    v = t.get(c, [None] * len(t["id"]))[i]
                if v is not None:
                    values[c][doc_id] = float(v)
    ids = table.column("id").to_pylist()
    out = {}
    for c in columns:
        if not values[c]:
            raise ConfigError("features", f"column {c!r} is in neither the sidecar nor the documents {paths}")
        out[c] = np.array([values[c].get(i, np.nan) for i in ids], dtype=float)
    return out


def _bin(values: np.ndarray, bins: int, train: np.ndarray) -> tuple[list[str], list[float]]:
    ok = ~np.isnan(values)
    ref = values[ok & train]
    if bins == 1 or ref.size == 0:
        return [("q0" if o else "na") for o in ok], []
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    idx = np.searchsorted(edges, values, side="right")
    return [f"q{k}" if o else "na" for k, o in zip(idx, ok, strict=True)], [float(e) for e in edges]


def build_space(config: SpaceConfig, docs: pa.Table | None = None, manifest: Manifest | None = None) -> Space:
    manifest = manifest or Manifest.load(config.shards)
    if not manifest.shards:
        raise SpaceError(str(manifest.root / "manifest.json"), "the manifest lists no shard")
    cell_shards = [s for s in manifest.shards if s.kind == "cell"]
    zero = sorted(s.path for s in cell_shards if s.tokens == 0)
    if not cell_shards or sum(s.tokens for s in cell_shards) == 0:
        raise SpaceError(str(manifest.root / "manifest.json"), "the manifest's cell shards hold no token")
    if zero:
        raise SpaceError(str(manifest.root / "manifest.json"), f"cell shards with zero tokens: {', '.join(zero[:5])}")
    if docs is None:
        docs = read_sidecar(manifest)
        known = {s.path for s in cell_shards}
        unknown = sorted(set(docs.column("shard").to_pylist()) - known)
        if unknown:
            raise SpaceError(str(manifest.root / "index"), f"sidecar names shards not in the manifest: {unknown[:3]}")
        docs = docs.filter(pa.compute.greater(docs.column("tokens"), 0))
    n = docs.num_rows
    ids = docs.column("id").to_pylist()
    holdout = _doc_hash(ids) < config.holdout_fraction
    train = ~holdout
    names = docs.column_names
    need = [f.column for f in config.features if f.column not in names]
    if need and not config.documents:
        raise ConfigError(
            "space.features", f"{', '.join(need)} not in the sidecar; name the record Parquet in space.documents"
        )
    joined = _join_records(docs, config.documents, need) if need else {}
    labels = {k: docs.column(k).to_pylist() if k in names else ["unknown"] * n for k in LABEL_KEYS}
    cells = docs.column("cell").to_pylist()
    bins, edges = [], {}
    for f in config.features:
        vals = joined[f.column] if f.column in joined else np.array(docs.column(f.column).to_pylist(), dtype=float)
        b, e = _bin(vals, f.bins, train)
        bins.append((f.column, b))
        edges[f.column] = e
    keys = ["|".join([cells[i], *(f"{col}={b[i]}" for col, b in bins)]) for i in range(n)]
    group_names = sorted(set(keys))
    gindex = {g: k for k, g in enumerate(group_names)}
    doc_group = np.array([gindex[k] for k in keys], dtype=np.int64)
    tokens = np.array(docs.column("tokens").to_pylist(), dtype=np.int64)
    gtok = np.bincount(doc_group[train], weights=tokens[train], minlength=len(group_names))
    keep = gtok > 0  # a group whose documents are all held out cannot be trained on: dropped from the space
    if not keep.any():
        raise SpaceError(str(manifest.root), "every group has zero training tokens")
    remap = np.cumsum(keep) - 1
    group_names = [g for g, k in zip(group_names, keep, strict=True) if k]
    doc_group = np.where(keep[doc_group], remap[doc_group], -1)
    gtok = gtok[keep]
    first = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    glabels = []
    for g in group_names:
        i = first[g]
        lab = {k: str(labels[k][i]) for k in LABEL_KEYS}
        lab["cell"] = cells[i]
        lab.update(dict(p.split("=", 1) for p in g.split("|")[1:]))
        lab.update(dict(p.split("=", 1) for p in cells[i].split("/") if "=" in p))
        glabels.append(lab)
    targets = _targets(config, docs, holdout, labels)
    return Space(
        manifest, docs, group_names, glabels, gtok, gtok / gtok.sum(), doc_group, holdout, targets, edges, config
    )


def _targets(config: SpaceConfig, docs: pa.Table, holdout: np.ndarray, labels: dict) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    held = np.flatnonzero(holdout)
    for key in config.targets_by:
        if key not in labels:
            raise ConfigError("targets_by", f"{key!r} is not a label of the sidecar ({', '.join(LABEL_KEYS)})")
        values = np.array(labels[key], dtype=object)
        for v in sorted({str(values[i]) for i in held}):
            rows = held[values[held].astype(str) == v]
            if len(rows) >= config.min_target_documents:
                out[f"{key}={v}"] = rows
    edu = np.array(docs.column("edu_score").to_pylist(), dtype=float) if "edu_score" in docs.column_names else None
    for t in config.targets:
        mask = holdout.copy()
        for k, v in t.where.items():
            if k not in labels:
                raise ConfigError(f"targets.{t.name}", f"label {k!r} unknown ({', '.join(LABEL_KEYS)})")
            allowed = {v} if isinstance(v, str) else set(v)
            mask &= np.array([str(x) in allowed for x in labels[k]])
        if t.min_edu is not None:
            if edu is None:
                raise ConfigError(f"targets.{t.name}", "min_edu needs edu_score in the sidecar")
            mask &= np.nan_to_num(edu, nan=-1) >= t.min_edu
        rows = np.flatnonzero(mask)
        if len(rows) < config.min_target_documents:
            raise ConfigError(
                f"targets.{t.name}",
                f"selects {len(rows)} held-out documents of the manifest (needs {config.min_target_documents})",
            )
        out[t.name] = rows
    if not out:
        raise SpaceError(str(config.shards), "no target set: no held-out documents (raise holdout_fraction)")
    return out
