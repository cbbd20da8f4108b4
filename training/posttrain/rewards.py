"""Verifiable rewards, found through the ``corpusforge.rewards`` entry-point group (``math``, ``code`` from
synth), so training imports no synth code. A reward that raises or runs past its timeout scores 0 and is counted
(``errors`` / ``timeouts``), never ending the run."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib.metadata import entry_points

from corpusforge.errors import ConfigError

GROUP = "corpusforge.rewards"
RewardFn = Callable[[str, str, dict], float]


def load_reward(name: str) -> RewardFn:
    """The registered reward ``name`` (or a ``module:function`` path); a ConfigError names the field when it is
    unknown or cannot load."""
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError("reward", f"{name!r} cannot load: {exc}") from None
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise ConfigError("reward", f"no reward named {name!r} in {GROUP} (registered: {sorted(found)})")
    try:
        return found[name].load()
    except Exception as exc:  # an entry point whose module is missing or broken
        raise ConfigError("reward", f"{name!r} ({found[name].value}) cannot load: {exc}") from None


class RewardRunner:
    """Scores completions with one reward function under a per-call timeout; counts what went wrong."""

    def __init__(self, fn: RewardFn, timeout_s: float = 10.0, workers: int = 4):
        self.fn, self.timeout_s = fn, timeout_s
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reward")
        self.counts: Counter = Counter()

    def score(self, prompts: list[str], completions: list[str], references: list[dict]) -> list[float]:
        futures = [
            self.pool.submit(self.fn, p, c, r) for p, c, r in zip(prompts, completions, references, strict=True)
        ]
        out = []
        for f in futures:
            try:
                out.append(float(f.result(timeout=self.timeout_s)))
                self.counts["scored"] += 1
            except FutureTimeout:
                f.cancel()
                self.counts["timeouts"] += 1
                out.append(0.0)
            except Exception:
                self.counts["errors"] += 1
                out.append(0.0)
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


def last_number(prompt: str, completion: str, reference: dict) -> float:
    """1.0 when the last number literal written in the completion equals ``reference["answer"]``. Stricter than
    synth's ``math`` check, which also accepts an unevaluated expression ("The answer is 4 - 16." for -12): GRPO
    with ``math`` on subtraction learnt exactly that (BENCHMARKS.md), so arithmetic tasks are graded with this."""
    found = _NUMBER.findall(completion)
    if not found:
        return 0.0
    try:
        return 1.0 if float(found[-1]) == float(str(reference["answer"])) else 0.0
    except (KeyError, ValueError):
        return 0.0
