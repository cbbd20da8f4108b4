"""File access through fsspec (local paths, s3://, anything fsspec knows), with atomic writes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import IO

import fsspec
from fsspec.core import url_to_fs

from corpusforge.errors import InputError


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    return url_to_fs(path)


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
        if fs.isdir(path):
            matches = [p for p in fs.find(path) if not fs.isdir(p)]
        elif any(ch in path for ch in "*?["):
            matches = fs.glob(path)
        elif fs.exists(path):
            matches = [path]
        else:  # found here, before a job writes anything, not as a traceback from a task
            raise InputError(pattern, "no such file or directory")
        found.update(proto + m if proto and not m.startswith(proto) else m for m in matches)
    return sorted(found)


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return fs.exists(p)


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    fs.makedirs(p, exist_ok=True)


def read_text(path: str) -> str:
    fs, p = filesystem(path)
    with fs.open(p, "r", encoding="utf-8") as f:
        return f.read()


def open_input(path: str, mode: str = "rb") -> IO:
    fs, p = filesystem(path)
    return fs.open(p, mode)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary name beside ``path`` and rename on success, so readers never see half a file.

    Object stores publish a PUT atomically already, so there the file is written in place.
    """
    fs, p = filesystem(path)
    parent = p.rsplit("/", 1)[0] if "/" in p else "."
    fs.makedirs(parent, exist_ok=True)
    local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
    tmp = f"{parent}/.tmp-{uuid.uuid4().hex}-{p.rsplit('/', 1)[-1]}" if local else p
    try:
        with fs.open(tmp, mode) as f:
            yield f
        if local:
            fs.mv(tmp, p)
    except BaseException:
        if local and fs.exists(tmp):
            fs.rm(tmp)
        raise


def write_text(path: str, text: str) -> None:
    with atomic_open(path, "wb") as f:
        f.write(text.encode("utf-8"))
