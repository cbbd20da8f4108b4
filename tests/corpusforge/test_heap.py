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
