"""The LLM teacher: labels a sample of documents so fastText students can learn the labels cheaply.

Two ways to ask, same labels out:

* ``generate`` (any backend, the default for endpoints): a prompt per label, the answer parsed strictly (one
  label name, one integer, yes/no; whitespace, case and surrounding punctuation forgiven, nothing else), a
  stricter reminder on an unparseable answer, then a counted failure (``teacher_unparseable``).
* ``score`` (local transformers models only, the default for them): every allowed answer is scored by its
  log-likelihood after the same prompt and the best one wins, so the answer is always a valid label. A 135M
  model asked to *generate* one of 24 topic names mostly paraphrases or echoes the text; scoring is the
  cheap way to constrain it. Scores are contextually calibrated (Zhao et al., 2021): each answer's
  log-likelihood with a content-free text ("N/A") is subtracted, which removes the model's prior for short
  or frequent label names. The document is the prompt's prefix, so its KV cache is shared by all labels.

Answers are cached in a sqlite file keyed by (model identity, prompt version, mode, label, text hash): a rerun
pays only for what it has not seen. Unparseable answers are cached too (greedy decoding would repeat them);
timeouts and errors are not, so a rerun retries them. Just over 400 lines: both ways of asking share the
prompts, the cache and the failure bookkeeping.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from annotators.taxonomy import EDU_RUBRIC, FIELDS, FORMATS, TOPICS
from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.sqlite import open_cache
from synth.llm import LLM, LLMConfig, LLMError, LocalLLM, build_llm

#: bump when a prompt, an answer set or the scoring changes: cached answers of older versions are not reused
PROMPT_VERSION = "1"

SYSTEM = "You label web documents for a training-data pipeline. Reply with the label only."


@dataclass(frozen=True)
class LabelSpec:
    """One teacher label: its question, the answers allowed, and what each answer is stored as."""

    name: str
    question: str
    answers: tuple[str, ...]
    #: answer → stored value (e.g. "yes" → "toxic"); identity when absent
    values: dict[str, Any] = field(default_factory=dict)

    def value(self, answer: str) -> Any:
        return self.values.get(answer, answer)


def _choice_list(names: Iterable[str]) -> str:
    return ", ".join(names)


def _short_rubric(criterion: str) -> str:
    """The rubric's criterion without its "Add a point if the extract" preamble: prompts stay short."""
    return re.sub(r"^.*? if the extract (is )?", "", criterion).split(";")[0].rstrip(".") + "."


LABELS: dict[str, LabelSpec] = {
    spec.name: spec
    for spec in (
        LabelSpec(
            "domain",
            f"What is the topic of the text? Answer with one of: {_choice_list(TOPICS)}.",
            tuple(TOPICS),
        ),
        LabelSpec(
            "format",
            f"What kind of document is the text? Answer with one of: {_choice_list(FORMATS)}.",
            tuple(FORMATS),
        ),
        LabelSpec(
            "field",
            f"Which academic field is the text from (none if it is not science)? Answer with one of: "
            f"{_choice_list(FIELDS)}.",
            tuple(FIELDS),
        ),
        LabelSpec(
            "edu",
            "Rate the educational value of the text from 0 to 5, one point each: "
            + " ".join(f"({i}) {_short_rubric(c)}" for i, c in enumerate(EDU_RUBRIC, 1))
            + " Answer with one integer from 0 to 5.",
            tuple(str(i) for i in range(6)),
            {str(i): i for i in range(6)},
        ),
        LabelSpec(
            "toxicity",
            "Is the text hateful, harassing, insulting or threatening? Answer yes or no.",
            ("yes", "no"),
            {"yes": "toxic", "no": "ok"},
        ),
        LabelSpec(
            "adult",
            "Is the text sexually explicit or pornographic? Answer yes or no.",
            ("yes", "no"),
            {"yes": "adult", "no": "ok"},
        ),
    )
}

FAILURE_REASONS = ("teacher_unparseable", "teacher_timeout", "teacher_error")

_EDGE = re.compile(r"^[\s\"'`*.,:;!?()\[\]{}<>]+|[\s\"'`*.,:;!?()\[\]{}<>]+$")


def parse_answer(spec: LabelSpec, reply: str) -> str | None:
    """The allowed answer ``reply`` is, or None: only case, whitespace and edge punctuation are forgiven."""
    text = _EDGE.sub("", reply).lower()
    text = re.sub(r"[\s\-]+", "_", text)
    return text if text in spec.answers else None


class TeacherConfig(Config):
    llm: LLMConfig = LLMConfig()
    #: auto: score for the local backend, generate for endpoints
    mode: Literal["auto", "generate", "score"] = "auto"
    #: generate mode: asks per label and document, the first one included (later ones carry a reminder)
    max_attempts: int = Field(3, ge=1)
    #: answer length in generate mode; a label is a few tokens
    max_new_tokens: int = Field(8, ge=1)
    #: characters of each document the teacher reads
    max_chars: int = Field(1000, ge=1)
    #: score mode: subtract each answer's log-likelihood given a content-free text
    calibrate: bool = True
    #: documents sent to the backend at once (its own concurrency spreads them)
    batch_size: int = Field(16, ge=1)
    #: the answer cache (sqlite); None = no cache
    cache: str | None = None
    #: score mode: torch CPU threads (1 is fastest on a shared machine; None leaves torch's default)
    torch_threads: int | None = Field(None, ge=1)


@dataclass
class TeachResult:
    labels: dict[str, Any]
    failures: dict[str, str]


class AnswerCache:
    """sqlite answers keyed by a hash; one writer (the teacher's thread), committed per document."""

    def __init__(self, path: str | Path):
        self._db = open_cache(path, "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, json.dumps(value)))
            self._db.commit()

    def close(self) -> None:
        self._db.close()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


class Teacher:
    """Labels documents for the requested labels; counts failures by reason in ``self.failures``."""

    def __init__(self, config: TeacherConfig, labels: list[str], llm: LLM | None = None):
        unknown = [name for name in labels if name not in LABELS]
        if unknown:
            raise ConfigError("labels", f"unknown label(s) {unknown}; known: {', '.join(LABELS)}")
        if not labels:
            raise ConfigError("labels", "name at least one label")
        self.config = config
        self.specs = [LABELS[name] for name in labels]
        self.llm = llm or build_llm(config.llm)
        mode = config.mode
        if mode == "auto":
            mode = "score" if isinstance(self.llm, LocalLLM) else "generate"
        if mode == "score" and not isinstance(self.llm, LocalLLM):
            raise ConfigError("mode", "score mode needs the local backend (it reads the model's log-likelihoods)")
        self.mode = mode
        self.cache = AnswerCache(config.cache) if config.cache else None
        self.failures: Counter[str] = Counter()
        self.llm_calls = 0
        self.cache_hits = 0
        self._null_scores: dict[str, dict[str, float]] = {}

    # -- identity and cache ---------------------------------------------------------------------------
    def model_identity(self) -> str:
        cfg = self.config.llm
        if isinstance(self.llm, LocalLLM):
            path = self.llm.path
            size = path.stat().st_size if path.is_file() else 0
            return f"local:{path.name}:{size}"
        return f"{cfg.backend}:{cfg.base_url}:{cfg.model}:t{cfg.temperature}"

    def _key(self, spec: LabelSpec, text: str) -> str:
        extra = f"cal{int(self.config.calibrate)}" if self.mode == "score" else f"n{self.config.max_attempts}"
        parts = (self.model_identity(), PROMPT_VERSION, self.mode, extra, spec.name, text_hash(text))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    # -- public -----------------------------------------------------------------------------------------
    def label(self, texts: list[str]) -> list[TeachResult]:
        """Labels for each text (a failed label is absent from ``labels`` and named in ``failures``)."""
        texts = [t[: self.config.max_chars] for t in texts]
        results = [TeachResult({}, {}) for _ in texts]
        todo: dict[str, list[int]] = {}
        for spec in self.specs:
            for i, text in enumerate(texts):
                hit = self.cache.get(self._key(spec, text)) if self.cache else None
                if hit is None:
                    todo.setdefault(spec.name, []).append(i)
                else:
                    self.cache_hits += 1
                    self._record(results[i], spec, hit, cache=False, text=text)
        if self.mode == "score":
            self._score_all(texts, todo, results)
        else:
            for spec in self.specs:
                self._generate(spec, texts, todo.get(spec.name, []), results)
        return results

    def close(self) -> None:
        if self.cache:
            self.cache.close()
        closer = getattr(self.llm, "close", None)
        if closer:
            closer()

    def _record(self, result: TeachResult, spec: LabelSpec, outcome: dict, cache: bool, text: str) -> None:
        if "answer" in outcome:
            result.labels[spec.name] = spec.value(outcome["answer"])
        else:
            result.failures[spec.name] = outcome["failure"]
            self.failures[outcome["failure"]] += 1
        if cache and self.cache and outcome.get("failure") not in ("teacher_timeout", "teacher_error"):
            self.cache.put(self._key(spec, text), outcome)

    # -- generate mode ----------------------------------------------------------------------------------
    def _messages(self, spec: LabelSpec, text: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Text:\n{text}\n\n{spec.question}"},
        ]

    def _reminder(self, spec: LabelSpec, reply: str) -> str:
        return (
            f"'{reply[:80]}' is not a valid answer. Reply with exactly one of: {_choice_list(spec.answers)}. "
            "No other words."
        )

    def _chat(self, batch: list[list[dict[str, str]]]) -> list[str | LLMError]:
        """One batch through the backend; if it fails, each conversation alone so failures are per document."""
        self.llm_calls += len(batch)
        try:
            return list(self.llm.chat(batch, self.config.max_new_tokens))
        except LLMError:
            if len(batch) == 1:
                raise
        out: list[str | LLMError] = []
        for messages in batch:
            self.llm_calls += 1
            try:
                out.append(self.llm.chat([messages], self.config.max_new_tokens)[0])
            except LLMError as exc:
                out.append(exc)
        return out

    def _generate(self, spec: LabelSpec, texts: list[str], indices: list[int], results: list[TeachResult]) -> None:
        for start in range(0, len(indices), self.config.batch_size):
            chunk = indices[start : start + self.config.batch_size]
            convos = {i: self._messages(spec, texts[i]) for i in chunk}
            pending = list(chunk)
            for _attempt in range(self.config.max_attempts):
                if not pending:
                    break
                try:
                    replies = self._chat([convos[i] for i in pending])
                except LLMError as exc:
                    replies = [exc]
                still: list[int] = []
                for i, reply in zip(pending, replies, strict=True):
                    if isinstance(reply, LLMError):
                        reason = "teacher_timeout" if "timeout" in str(reply).lower() else "teacher_error"
                        self._record(results[i], spec, {"failure": reason}, cache=True, text=texts[i])
                        continue
                    answer = parse_answer(spec, reply)
                    if answer is not None:
                        self._record(results[i], spec, {"answer": answer}, cache=True, text=texts[i])
                    else:
                        convos[i] = convos[i] + [
                            {"role": "assistant", "content": reply},
                            {"role": "user", "content": self._reminder(spec, reply)},
                        ]
                        still.append(i)
                pending = still
            for i in pending:
                self._record(results[i], spec, {"failure": "teacher_unparseable"}, cache=True, text=texts[i])

    # -- score mode -------------------------------------------------------------------------------------
    def _score_all(self, texts: list[str], todo: dict[str, list[int]], results: list[TeachResult]) -> None:
        by_doc: dict[int, list[LabelSpec]] = {}
        for spec in self.specs:
            for i in todo.get(spec.name, []):
                by_doc.setdefault(i, []).append(spec)
        if not by_doc:
            return
        if self.config.torch_threads:
            import torch

            torch.set_num_threads(self.config.torch_threads)
        scorer = _Scorer(self.llm)  # type: ignore[arg-type]
        if self.config.calibrate:
            for spec in self.specs:
                if spec.name not in self._null_scores:
                    self._null_scores[spec.name] = scorer.score("N/A", [spec])[spec.name]
        for i in sorted(by_doc):
            self.llm_calls += 1
            try:
                scores = scorer.score(texts[i], by_doc[i])
            except Exception as exc:  # a broken document must not end the run: count it
                for spec in by_doc[i]:
                    self._record(results[i], spec, {"failure": "teacher_error", "error": str(exc)[:200]}, False, "")
                continue
            for spec in by_doc[i]:
                null = self._null_scores.get(spec.name, {})
                calibrated = {a: s - null.get(a, 0.0) for a, s in scores[spec.name].items()}
                best = max(spec.answers, key=lambda a: calibrated[a])
                self._record(results[i], spec, {"answer": best}, cache=True, text=texts[i])


class _Scorer:
    """Log-likelihood of each allowed answer after the chat prompt, sharing the document's KV cache."""

    SENTINEL = "\x00QUESTION\x00"

    def __init__(self, llm: LocalLLM):
        llm._load()
        self.tok = llm._tokenizer
        self.model = llm._model
        self._answer_ids: dict[str, list[list[int]]] = {}

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def score(self, text: str, specs: list[LabelSpec]) -> dict[str, dict[str, float]]:
        import torch

        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Text:\n{text}\n\n{self.SENTINEL}"},
        ]
        rendered = self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prefix, suffix = rendered.split(self.SENTINEL)
        prefix_ids = torch.tensor([self._ids(prefix)])
        out: dict[str, dict[str, float]] = {}
        with torch.inference_mode():
            cache = self.model(prefix_ids, use_cache=True, logits_to_keep=1).past_key_values
            n_prefix = prefix_ids.shape[1]
            for spec in specs:
                q_ids = torch.tensor([self._ids(spec.question + suffix)])
                mask = torch.ones(1, n_prefix + q_ids.shape[1], dtype=torch.long)
                q_out = self.model(q_ids, past_key_values=cache, attention_mask=mask, use_cache=True, logits_to_keep=1)
                first = torch.log_softmax(q_out.logits[0, -1].float(), -1)
                out[spec.name] = self._answers(spec, first, q_out.past_key_values, mask)
                extra = cache.get_seq_length() - n_prefix
                if extra:  # drop the question: negative = tokens to remove, in old and new transformers
                    cache.crop(-extra)
        return out

    def _answers(self, spec: LabelSpec, first: Any, cache: Any, mask: Any) -> dict[str, float]:
        import torch

        if spec.name not in self._answer_ids:
            self._answer_ids[spec.name] = [self._ids(a + "<|im_end|>") for a in spec.answers]
        answer_ids = self._answer_ids[spec.name]
        scores = [float(first[ids[0]]) for ids in answer_ids]
        rest = [ids[1:] for ids in answer_ids]
        width = max(len(r) for r in rest)
        if width:
            n = len(rest)
            pad = self.tok.pad_token_id or 0
            inp = torch.tensor(
                [[ids[0]] + r[:-1] + [pad] * (width - len(r)) for ids, r in zip(answer_ids, rest, strict=True)]
            )
            att = torch.cat([mask.expand(n, -1), torch.ones(n, width, dtype=torch.long)], 1)
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(n)
            logits = self.model(inp, past_key_values=batch_cache, attention_mask=att, use_cache=True).logits
            logp = torch.log_softmax(logits.float(), -1)
            for k, r in enumerate(rest):
                scores[k] += sum(float(logp[k, j, r[j]]) for j in range(len(r)))
        return dict(zip(spec.answers, scores, strict=True))
