"""A contextual second stage for a binary safety head, run as a cascade behind its fastText head.

A bag of words tops out near macro-F1 0.70 on TweetEval offensive; a logistic probe over a local LM's
mean-pooled hidden states reads context. The LM costs ~0.1-1 s of CPU per text where the label stage has 0.5 ms
per document, so it runs only on texts whose fastText score clears a screening threshold chosen for high recall:
the cascade's value is the probe's probability on screened texts and the fastText score elsewhere (always below
the screen, hence below the flag threshold, which is never below the screen).

Everything is chosen on the train split: the LM layer and C by k-fold CV over a seeded sample of train tweets
(the LM's features cost CPU), the screen and the flag threshold on out-of-fold scores of both stages (fastText
refitted per fold). Validation is read once, for the card. Features are cached in sqlite, keyed by model, layers,
window and text, so nothing is computed twice.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from annotators.encoder_head import KIND as ENCODER_KIND
from annotators.encoder_head import EncoderHead
from annotators.fasttext_head import DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS, MODELS_DIR, read_windows
from annotators.probe import FeatureCache, default_layers, load_layers, resolve_model
from corpusforge.config import Config
from corpusforge.errors import DependencyError, InputError

#: bump when pooling changes: cached features of older versions are not reused
POOL_VERSION = "ctx1"


class StatesConfig(Config):
    model: str = Field("smollm2-135m", description="A model name of annotators.probe.MODELS, or a .gguf path.")
    layers: list[int] | None = Field(None, min_length=1, description="Layers pooled; default: the model's.")
    max_tokens: int = Field(128, ge=8, le=4096, description="Tokens of each text read (a tweet is ~30).")
    batch_size: int = Field(32, ge=1)
    torch_threads: int | None = Field(1, ge=1)
    cache: str | None = Field(None, description="Feature cache (sqlite); None = no cache.")


class PooledStates:
    """Mean over a text's non-special tokens of some layers' hidden states, in length-sorted batches."""

    def __init__(self, config: StatesConfig):
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise DependencyError("contextual head", module, "llm")
        self.config = config.model_copy(update={"layers": config.layers or default_layers(config.model)})
        self.path = resolve_model(config.model)
        self.cache = FeatureCache(config.cache) if config.cache else None
        self.computed = 0
        self._model: Any = None
        self._tokenizer: Any = None

    def _key(self, text: str) -> str:
        size = self.path.stat().st_size if self.path.is_file() else 0
        parts = (POOL_VERSION, f"{self.path.name}:{size}", str(self.config.max_tokens),
                 ",".join(map(str, self.config.layers)), text)  # fmt: skip
        return hashlib.sha256("|".join(parts).encode("utf-8", "replace")).hexdigest()

    def _load(self) -> None:
        if self._model is not None:
            return
        c = self.config
        tokenizer, model = load_layers(self.path, c.layers, c.torch_threads, "contextual head", "layers")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "right"
        self._tokenizer, self._model = tokenizer, model

    def _compute(self, texts: list[str]) -> np.ndarray:
        import torch

        self._load()
        enc = self._tokenizer([t or " " for t in texts], return_tensors="pt", padding=True, truncation=True,
                              max_length=self.config.max_tokens, return_special_tokens_mask=True)  # fmt: skip
        special = enc.pop("special_tokens_mask")
        with torch.inference_mode():
            states = self._model(**enc, output_hidden_states=True).hidden_states
        mask = (enc["attention_mask"] * (1 - special)).float()
        empty = mask.sum(1) == 0  # a text of special tokens only: pool them rather than nothing
        mask[empty] = enc["attention_mask"][empty].float()
        weights = (mask / mask.sum(1, keepdim=True))[..., None]
        return np.stack([(states[layer] * weights).sum(1).numpy() for layer in self.config.layers], axis=1)

    def features(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), len(layers), hidden)`` float32; cached texts are not recomputed."""
        out: list[np.ndarray | None] = [None] * len(texts)
        keys = [self._key(t) for t in texts]
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache else None
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
        if todo:
            self._load()
            lengths = {i: len(self._tokenizer(texts[i] or " ")["input_ids"]) for i in todo}
            todo.sort(key=lengths.__getitem__)  # similar lengths batch together: little padding
            for b in range(0, len(todo), self.config.batch_size):
                batch = todo[b : b + self.config.batch_size]
                for i, row in zip(batch, self._compute([texts[i] for i in batch]), strict=True):
                    out[i] = row
                    if self.cache:
                        self.cache.put(keys[i], row)
                self.computed += len(batch)
        if not texts:
            return np.zeros((0, len(self.config.layers), 0), np.float32)
        return np.stack(out).astype(np.float32)

    def close(self) -> None:
        if self.cache:
            self.cache.close()


class ContextualProbe:
    """A standardised logistic probe on one layer of `PooledStates`, stored as plain arrays (``.npz``) plus the
    states' configuration, so it reloads without pickle and reads exactly what it was fitted on."""

    def __init__(self, states: StatesConfig, layer: int, mean, scale, coef, intercept: float):
        self.states_config = states.model_copy(update={"layers": [layer], "cache": None})
        self.layer = layer
        self.mean, self.scale = np.asarray(mean, np.float32), np.asarray(scale, np.float32)
        self.coef, self.intercept = np.asarray(coef, np.float32), float(intercept)
        self._states: PooledStates | None = None

    def proba(self, features: np.ndarray) -> np.ndarray:
        """P(positive) from ``(n, hidden)`` states of the probe's layer."""
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, texts: list[str]) -> list[float]:
        if self._states is None:
            self._states = PooledStates(self.states_config)
        return self.proba(self._states.features(texts)[:, 0, :]).tolist()

    def save(self, path: str | Path) -> None:
        config = self.states_config.model_dump(mode="json", exclude={"cache"})
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, mean=self.mean, scale=self.scale, coef=self.coef, intercept=np.float32(self.intercept),
                     layer=np.int32(self.layer), states=np.array(json.dumps(config)))  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> ContextualProbe:
        try:
            with np.load(path) as data:
                states = StatesConfig.model_validate(json.loads(str(data["states"])))
                return cls(states, int(data["layer"]), data["mean"], data["scale"], data["coef"], float(data["intercept"]))
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(str(path), f"not a contextual probe file: {exc}") from None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_states": None}  # the LM is loaded again per worker


def load_second_stage(path: str | Path) -> ContextualProbe | EncoderHead:
    """A cascade's decider from its ``.ctx.npz``: a probe over a frozen LM, or a fine-tuned encoder (``kind``)."""
    try:
        with np.load(path) as data:
            if "kind" in data.files and str(data["kind"]) == ENCODER_KIND:
                return EncoderHead.from_arrays(data)
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"not a contextual head file: {exc}") from None
    except (KeyError, RuntimeError) as exc:
        raise InputError(str(path), f"not a fine-tuned encoder head: {exc}") from None
    return ContextualProbe.load(path)


def cascade_values(stage1: list[float | None], texts: list[str], probe: ContextualProbe | EncoderHead, screen: float) -> tuple[list, int]:
    """(values, texts sent to the probe): the probe's probability where stage 1 >= ``screen``, else stage 1's."""
    chosen = [i for i, s in enumerate(stage1) if s is not None and s >= screen]
    values = list(stage1)
    if chosen:
        for i, p in zip(chosen, probe.score([texts[i] for i in chosen]), strict=True):
            values[i] = p
    return values, len(chosen)


def cascade_reader(text: str) -> str:
    """What the probe reads of a page: the label stage's default stretches (`read_windows`), case kept."""
    return read_windows(text, DEFAULT_READ_CHARS, DEFAULT_READ_WINDOWS, keep_case=True)


def cascade_model_path(head: str, path: str | None = None) -> Path:
    """A head's contextual probe: ``path``, or the shipped ``annotators/models/<head>.ctx.npz`` (``default``)."""
    resolved = Path(path) if path and path != "default" else MODELS_DIR / f"{head}.ctx.npz"
    if not resolved.is_file():
        raise InputError(str(resolved), f"no contextual probe for the '{head}' head; `corpusforge annotate "
                         "train-cascade` writes one")
    return resolved
