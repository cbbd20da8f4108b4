"""Training from shards in a real S3-compatible store (moto on 127.0.0.1) through the size-limited local cache."""

import json
import os

import fsspec
import pytest

from corpusforge.errors import ConfigError
from tests.training.factory import write_shards
from training.shardcache import ShardCache, ShardCacheSettings


@pytest.fixture
def bucket_shards(s3, tmp_path):
    local = write_shards(tmp_path / "shards")
    bucket = s3.bucket()
    fs = fsspec.filesystem("s3")
    fs.put(str(local), f"{bucket}/shards".split("://", 1)[1], recursive=True)
    return local, f"{bucket}/shards"


def _recipe(shards, out, cache: dict | None):
    from training.pretrain import PretrainRecipe

    return PretrainRecipe.parse({
        "name": "s3", "output": str(out), "shards": shards, "model": {"preset": "tiny"},
        "train": {"micro_batch_size": 2, "progress": False, "tensorboard": False, "shard_cache": cache},
        "stages": [{"name": "s1", "seq_length": 32, "tokens": 32 * 2 * 3}], "export": {"enabled": False},
    })  # fmt: skip


def test_training_from_s3_through_the_cache_matches_local_shards(bucket_shards, tmp_path):
    from training.pretrain import pretrain

    local, remote = bucket_shards
    cache = tmp_path / "cache"
    from_s3 = pretrain(_recipe(remote, tmp_path / "a", {"dir": str(cache), "max_bytes": 10**8}))
    from_disk = pretrain(_recipe(str(local), tmp_path / "b", None))
    assert from_s3["stages"]["s1"]["losses"] == from_disk["stages"]["s1"]["losses"]
    cached = sorted(p.name for p in cache.rglob("*.bin"))
    assert cached == ["00000.bin"] * 3  # the three cells' shards (the 'long' one is not in this blend)


def test_the_size_limit_evicts_and_refuses(bucket_shards, tmp_path):
    local, remote = bucket_shards
    manifest = json.loads((local / "manifest.json").read_text())
    one = [f"{remote}/{s['path']}{ext}" for s in manifest["shards"][:1] for ext in (".idx", ".bin")]
    two = [f"{remote}/{s['path']}{ext}" for s in manifest["shards"][1:2] for ext in (".idx", ".bin")]
    size = sum((local / f"{s['path']}{ext}").stat().st_size for s in manifest["shards"][:2] for ext in (".idx", ".bin"))
    cache = ShardCache(ShardCacheSettings(dir=str(tmp_path / "c"), max_bytes=size * 3 // 4))  # one shard fits
    first = cache.localize(one)
    cache.localize(two)  # the first shard is evicted to make room
    assert cache.stats.evicted_files == 2 and not any(os.path.exists(p) for p in first.values())
    assert sum(p.stat().st_size for p in (tmp_path / "c").rglob("*.bin")) <= cache.max_bytes
    again = cache.localize(two)  # a hit
    assert cache.stats.hit_files == 2 and cache.stats.fetched_files == 4
    victim = next(iter(again.values()))
    with open(victim, "ab") as f:
        f.write(b"x")  # a cached file of the wrong size is fetched again
    cache.localize(two)
    assert cache.stats.fetched_files == 5
    with pytest.raises(ConfigError, match="train.shard_cache.max_bytes"):
        cache.localize(one + two)
