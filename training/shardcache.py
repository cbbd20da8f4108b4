"""Shards in object storage (``s3://...``), read through a local disk cache with a size limit.

Megatron's ``GPTDataset`` draws samples from every shard of a blend at random, so a stage needs all of its
shards at hand: the cache holds whole shard files (``.bin`` + ``.idx``), fetched once (through fsspec, with
the project's retries; written under a temporary name, then renamed) and memory-mapped by Megatron like local
shards. Before a stage, the cache makes room for its shards by evicting the least recently used ones of other
stages; a blend whose shards alone exceed the limit fails before training with one line naming the setting.
A cached file whose size differs from the object's is fetched again. One lock file serialises the ranks of a
machine that share the cache folder (the first fetches, the others find the files).

What this does not do: stream a blend larger than the local disk. For that, ``train.shard_cache: null`` leaves
the reading to Megatron's own object-storage path (index files cached, ``.bin`` read in ranges per sample).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.fs import filesystem, retrying


class ShardCacheSettings(Config):
    dir: str | None = Field(None, description="Local cache folder; null: corpusforge-shard-cache in the temp dir.")
    max_bytes: int = Field(64 * 2**30, ge=1, description="The most bytes of shard files the cache keeps.")


@dataclass
class CacheStats:
    fetched_files: int = 0
    fetched_bytes: int = 0
    hit_files: int = 0
    evicted_files: int = 0
    seconds: float = 0.0

    @property
    def fetch_mb_per_s(self) -> float:
        return self.fetched_bytes / 2**20 / self.seconds if self.seconds and self.fetched_bytes else 0.0


def _key(url: str) -> str:
    """The cache path of an object URL: its bucket and key under the cache folder."""
    return url.split("://", 1)[1].lstrip("/")


class ShardCache:
    def __init__(self, settings: ShardCacheSettings | None = None):
        settings = settings or ShardCacheSettings()
        self.root = Path(settings.dir or os.path.join(tempfile.gettempdir(), "corpusforge-shard-cache"))
        self.max_bytes = settings.max_bytes
        self.stats = CacheStats()

    @contextmanager
    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _cached(self) -> list[Path]:
        return [p for p in self.root.rglob("*") if p.is_file() and p.suffix in (".bin", ".idx")]

    def _make_room(self, need: int, keep: set[Path]) -> None:
        files = sorted((p for p in self._cached() if p not in keep), key=lambda p: p.stat().st_mtime)
        used = sum(p.stat().st_size for p in self._cached())
        for p in files:
            if used + need <= self.max_bytes:
                break
            used -= p.stat().st_size
            p.unlink()
            self.stats.evicted_files += 1

    def localize(self, urls: list[str]) -> dict[str, str]:
        """Local copies of ``urls`` (object URLs), fetched as needed within the size limit: url -> local path."""
        t0 = time.perf_counter()
        fs, _ = filesystem(urls[0])
        sizes = {u: int(retrying(u, fs.info, u.split("://", 1)[1])["size"]) for u in urls}
        total = sum(sizes.values())
        if total > self.max_bytes:
            raise ConfigError(
                "train.shard_cache.max_bytes",
                f"the blend's shard files take {total:,} bytes; the cache holds {self.max_bytes:,} "
                "(raise it, or set train.shard_cache: null to read the shards in ranges from the store)",
            )
        out = {u: self.root / _key(u) for u in urls}
        with self._locked():
            missing = [u for u in urls if not out[u].is_file() or out[u].stat().st_size != sizes[u]]
            present = {out[u] for u in urls if u not in missing}
            self._make_room(sum(sizes[u] for u in missing), present)
            for u in urls:
                local = out[u]
                if u in missing:
                    local.parent.mkdir(parents=True, exist_ok=True)
                    tmp = local.with_name(f".{local.name}.{os.getpid()}.tmp")
                    retrying(u, fs.get_file, u.split("://", 1)[1], str(tmp))
                    tmp.replace(local)
                    self.stats.fetched_files += 1
                    self.stats.fetched_bytes += sizes[u]
                else:
                    self.stats.hit_files += 1
                os.utime(local)  # most recently used
        self.stats.seconds += time.perf_counter() - t0
        return {u: str(p) for u, p in out.items()}

    def localize_blend(self, blend):
        """The blend with its object-store shard prefixes replaced by cached local ones (rates follow them)."""
        remote = [p for p in blend.prefixes if "://" in p]
        if not remote:
            return blend
        local = self.localize([p + ext for p in remote for ext in (".idx", ".bin")])
        mapping = {p: local[p + ".bin"][: -len(".bin")] for p in remote}
        return replace(
            blend,
            prefixes=[mapping.get(p, p) for p in blend.prefixes],
            rates={mapping.get(p, p): r for p, r in blend.rates.items()},
        )
