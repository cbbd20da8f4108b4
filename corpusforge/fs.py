"""File access through fsspec (local paths, s3://, anything fsspec knows), with atomic writes and retries.

A store that does not answer (connection refused, timeouts, a dropped connection) is retried with exponential
backoff, then fails with one ``StoreUnreachable`` naming the URL. ``CORPUSFORGE_STORAGE_TRIES`` (default 5) and
``CORPUSFORGE_STORAGE_BACKOFF`` (seconds before the second try, doubling after; default 1) set the policy;
botocore's own retries are turned off so that this is the only one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, TypeVar

import fsspec
from fsspec.core import url_to_fs

from corpusforge.errors import InputError, StoreUnreachable

T = TypeVar("T")
TRIES_ENV, BACKOFF_ENV = "CORPUSFORGE_STORAGE_TRIES", "CORPUSFORGE_STORAGE_BACKOFF"
# errors of a store that did not answer (botocore, aiohttp, fsspec), by class name: none of them is imported here
_UNREACHABLE = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "ProxyConnectionError",
        "ClientConnectorError",
        "ClientOSError",
        "ServerDisconnectedError",
        "FSTimeoutError",
    }
)


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    if path.startswith(("s3://", "s3a://")):
        # one retry policy, ours (botocore's would take ~10 s per call first); no cached listings: other
        # processes (workers, executors) write into the same folders
        return url_to_fs(path, config_kwargs={"retries": {"max_attempts": 1}}, use_listings_cache=False)
    return url_to_fs(path)


def _local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store did not answer (worth another try), not that the request was wrong."""
    return isinstance(exc, ConnectionError | TimeoutError) or any(c.__name__ in _UNREACHABLE for c in type(exc).__mro__)


def retrying(url: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``, tried again with exponential backoff while the store at ``url`` does not answer."""
    tries = max(1, int(os.environ.get(TRIES_ENV, "5")))
    wait = float(os.environ.get(BACKOFF_ENV, "1"))
    start = time.monotonic()
    for attempt in range(1, tries + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not unreachable(exc):
                raise
            if attempt == tries:
                cause = (str(exc).splitlines() or [""])[0]
                spent = time.monotonic() - start
                raise StoreUnreachable(
                    url, f"the store did not answer after {tries} tries over {spent:.1f}s ({type(exc).__name__}: {cause})"
                ) from None
            time.sleep(wait * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]])


def expand(patterns: list[str] | str) -> list[str]:
    """Expand globs and directories into a sorted, de-duplicated list of file URLs; a named file or folder that
    does not exist is an `InputError`."""
    if isinstance(patterns, str):
        patterns = [patterns]
    found: set[str] = set()
    for pattern in patterns:
        fs, path = filesystem(pattern)
        proto = pattern.split("://", 1)[0] + "://" if "://" in pattern else ""
        matches = retrying(pattern, _matches, fs, path, pattern)
        found.update(proto + m if proto and not m.startswith(proto) else m for m in matches)
    return sorted(found)


def _matches(fs: fsspec.AbstractFileSystem, path: str, pattern: str) -> list[str]:
    if fs.isdir(path):
        return [p for p in fs.find(path) if not fs.isdir(p)]
    if any(ch in path for ch in "*?["):
        return fs.glob(path)
    if fs.exists(path):
        return [path]
    # found here, before a job writes anything, not as a traceback from a task
    raise InputError(pattern, "no such file or directory")


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return retrying(path, fs.exists, p)


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    retrying(path, fs.makedirs, p, exist_ok=True)


def read_text(path: str) -> str:
    fs, p = filesystem(path)
    return retrying(path, fs.cat_file, p).decode("utf-8")


def open_input(path: str, mode: str = "rb") -> IO:
    fs, p = filesystem(path)
    return retrying(path, fs.open, p, mode)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary name and publish it under ``path`` only on success, so readers never see half a file.

    Local files: a temporary name beside ``path``, then a rename. Object stores: a local temporary file, then
    one upload (retried while the store does not answer); a write that fails uploads nothing.
    """
    fs, p = filesystem(path)
    if not _local(fs):
        fd, spool = tempfile.mkstemp(prefix=".tmp-corpusforge-")
        os.close(fd)
        try:
            with open(spool, mode) as f:
                yield f
            retrying(path, fs.put_file, spool, p)
        finally:
            os.remove(spool)
        return
    parent = p.rsplit("/", 1)[0] if "/" in p else "."
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{p.rsplit('/', 1)[-1]}"
    try:
        with fs.open(tmp, mode) as f:
            yield f
        fs.mv(tmp, p)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


def write_text(path: str, text: str) -> None:
    with atomic_open(path, "wb") as f:
        f.write(text.encode("utf-8"))
