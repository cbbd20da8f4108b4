"""trim_heap gives the free holes of glibc's heap back: resident memory drops once freed blocks are trimmed."""

import sys

import pytest

from corpusforge.heap import trim_heap


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_heap_blocks_are_returned():
    trim_heap()
    # 60 MB of blocks under the mmap threshold (so they come from the heap), every 20th kept: the rest are holes
    blocks = [bytearray(100_000) for _ in range(600)]
    for b in blocks:
        b[::4096] = b"\x01" * len(b[::4096])  # touch every page
    kept = blocks[::20]
    del blocks
    before = _rss_mb()
    assert trim_heap() is True
    assert before - _rss_mb() > 30
    assert len(kept) == 30


def _child_pool(env: dict) -> str:
    import os
    import subprocess

    code = ("from corpusforge.heap import prefer_system_pool; prefer_system_pool(); import pyarrow as pa; "
            "print(pa.default_memory_pool().backend_name)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"} | env
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_arrow_pool_is_the_system_allocator_unless_the_user_chose():
    """Set before pyarrow loads (the CLI does), Arrow's default pool is glibc's, whose holes trim_heap returns;
    a pool named in the environment stays."""
    assert _child_pool({}).strip() == "system"
    assert _child_pool({"ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}).strip() == "jemalloc"


def test_system_allocator_after_pyarrow_loaded():
    import pyarrow as pa

    from corpusforge.heap import system_allocator

    before = pa.default_memory_pool()
    try:
        system_allocator()
        assert pa.default_memory_pool().backend_name == "system"
        assert pa.array(["x" * 1000]).buffers()[2].size >= 1000  # allocations go on working
    finally:
        pa.set_memory_pool(before)
