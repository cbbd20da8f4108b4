"""A worker's memory: Arrow's buffers in glibc's heap, and that heap's free pages given back to the operating system.

A worker's short-lived allocations for one large document (its parse tree, the filters' word lists) and a row
group's Arrow buffers leave free holes in glibc's heap when they go. The resident size keeps counting those holes
until the heap is trimmed, so without a trim a worker's memory grew with the number of large documents it had
seen, not with the largest one (BENCHMARKS.md, issue 20).

Arrow's default pool (mimalloc) was a second heap that no trim reached: the Parquet reader's and writer's page
buffers, decoders, encoders and compression scratch come from it whatever pool pyarrow is given (pyarrow does not
pass that pool on to them). mimalloc keeps freed pages resident for reuse: the first row group a web task wrote
mid-task left 11-14 MB there for the rest of the task (a step in the curve that only inputs large enough to write
a row group before their end paid), and a dedup worker held 38-54 MB there while Arrow's live allocations never
passed 5 MB (BENCHMARKS.md, issue 20, "later"). Arrow reads its default from `ARROW_POOL_ENV` once, when pyarrow
loads: the CLI sets it before anything imports pyarrow (`prefer_system_pool`), and worker processes inherit it. A
process that loaded pyarrow first gets what `system_allocator` and `trim_heap` can still do.

pyarrow is imported inside the functions: `prefer_system_pool` must run before it loads.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from types import MappingProxyType

#: Arrow's default memory pool, read from the environment when pyarrow loads
ARROW_POOL_ENV = MappingProxyType({"ARROW_DEFAULT_MEMORY_POOL": "system"})


def prefer_system_pool() -> None:
    """Arrow's default pool will be the system allocator in this process (when pyarrow has not loaded yet) and in
    the processes it starts; a pool the user chose in the environment stays."""
    for key, value in ARROW_POOL_ENV.items():
        os.environ.setdefault(key, value)


def system_allocator() -> None:
    """pyarrow's default pool becomes the system allocator in this process (for a process that loaded pyarrow
    before `prefer_system_pool`): the buffers of reads, tables and arrays then live in the heap `trim_heap`
    trims. Called where a task starts, on every engine; buffers already allocated stay in their pool until freed."""
    import pyarrow as pa

    pool = pa.system_memory_pool()
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)


def _arrow_pools() -> list:
    """pyarrow's default pool and mimalloc's (Arrow's own default in the wheels, unless `ARROW_POOL_ENV` was set)."""
    import pyarrow as pa

    pools = [pa.default_memory_pool()]
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without mimalloc
        pools.append(pa.mimalloc_memory_pool())
    return pools


def trim_heap() -> bool:
    """Arrow's pools release what they keep unused, then ``malloc_trim(0)``: True when glibc released memory;
    False where there is no ``malloc_trim`` (not glibc). It walks the heap's free chunks (a millisecond or more on a
    fragmented heap): call it every so many documents, not after each."""
    for pool in _arrow_pools():
        pool.release_unused()
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):  # musl and other C libraries have no malloc_trim
        return False
