"""A request cache (SQLite) in front of an LLM: a rerun, or a restarted task, does not pay twice.

The key hashes everything that decides a completion: backend, model, endpoint, messages, max_new_tokens,
temperature, seed and the request's position among identical ones (so k samples of one prompt stay k
different samples). WAL mode and a busy timeout let several worker processes share one file.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from corpusforge.sqlite import open_cache
from synth.llm import LLM, Completion, Messages


@dataclass
class Usage:
    """What one generator's requests cost: calls made, served from cache, tokens, seconds of generation."""

    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        for name in ("requests", "cached", "prompt_tokens", "completion_tokens", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["tokens_per_s"] = self.completion_tokens / self.seconds if self.seconds else 0.0
        return d


class RequestCache:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self._lock = threading.Lock()
        table = (
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT, prompt_tokens INT,"
            " completion_tokens INT)"
        )
        self._db = open_cache(path, table, timeout=120, wal=True)
        self._db.commit()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key=?", (key,))
            found = row.fetchone()
        return Completion(*found) if found else None

    def put_many(self, items: list[tuple[str, Completion]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)",
                [(k, c.text, c.prompt_tokens, c.completion_tokens) for k, c in items],
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedLLM:
    """Batched generation through a cache; what was not cached is generated in one `LLM.generate` call."""

    def __init__(self, llm: LLM, cache: RequestCache | None):
        self.llm, self.cache = llm, cache

    def key(self, messages: Messages, max_new_tokens: int, temperature: float, seed: int, nth: int) -> str:
        c = self.llm.config
        data = [c.backend, c.model, c.base_url if c.backend == "openai" else "", messages, max_new_tokens]
        data += [temperature, seed, nth]
        return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def generate(
        self, batch: list[Messages], max_new_tokens: int, usage: Usage, temperature: float | None = None
    ) -> list[Completion]:
        import time

        temperature = self.llm.config.temperature if temperature is None else temperature
        seen: dict[str, int] = {}
        keys = []
        for messages in batch:
            raw = json.dumps(messages, sort_keys=True)
            seen[raw] = seen.get(raw, -1) + 1
            keys.append(self.key(messages, max_new_tokens, temperature, self.llm.config.seed, seen[raw]))
        out: list[Completion | None] = [self.cache.get(k) if self.cache is not None else None for k in keys]
        todo = [i for i, c in enumerate(out) if c is None]
        usage.requests += len(batch)
        usage.cached += len(batch) - len(todo)
        if todo:
            start = time.perf_counter()
            fresh = self.llm.generate([batch[i] for i in todo], max_new_tokens, temperature=temperature)
            usage.seconds += time.perf_counter() - start
            for i, completion in zip(todo, fresh, strict=True):
                out[i] = completion
                usage.prompt_tokens += completion.prompt_tokens
                usage.completion_tokens += completion.completion_tokens
            if self.cache is not None:
                self.cache.put_many([(keys[i], out[i]) for i in todo])
        return out  # type: ignore[return-value]
