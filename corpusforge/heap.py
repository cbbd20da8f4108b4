"""Give the free pages inside the C heap back to the operating system (glibc ``malloc_trim``).

A worker's short-lived allocations for one large document (its parse tree, the filters' word lists) and a row
group's Arrow buffers leave free holes in glibc's heap when they go. The resident size keeps counting those holes
until the heap is trimmed, so without a trim a worker's memory grew with the number of large documents it had
seen, not with the largest one (BENCHMARKS.md, issue 20).
"""

from __future__ import annotations

import ctypes
import sys


def trim_heap() -> bool:
    """``malloc_trim(0)``: True when glibc released memory; False where there is nothing to call (not glibc).
    It walks the heap's free chunks (a millisecond or more on a fragmented heap): call it every so many
    documents, not after each."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        return False
