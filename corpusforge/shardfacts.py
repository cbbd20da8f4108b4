"""Facts about token shards that both their writer (``pipelines/shards``) and their reader (``training``) need.

Kept here, below both, so ``training`` never imports ``pipelines`` (DESIGN.md's arrows) and nothing is written
twice: the manifest's format name and file name, the files that make a tokenizer's identity, the Qwen3
tokenizer's size and special-token ids, and reading a manifest's JSON (local or through fsspec).
"""

from __future__ import annotations

import json
from pathlib import Path

from corpusforge.errors import InputError
from corpusforge.fs import exists, join, read_text

MANIFEST_FORMAT = "corpusforge.shards/1"
MANIFEST = "manifest.json"
#: the files that make a tokenizer's identity (those present are hashed; model weights never are)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
)
#: the Qwen3 tokenizer as the Qwen3 report and its released files define it
QWEN3_VOCAB = 151_669  # 151,643 regular tokens + 26 special tokens
QWEN3_SPECIAL = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<think>": 151667,
    "</think>": 151668,
}


def manifest_path(path: str | Path) -> str:
    """The manifest file of a shard folder (or the path itself when it names a ``.json``)."""
    path = str(path)
    return path if path.endswith(".json") else join(path, MANIFEST)


def read_manifest(path: str | Path, missing: str = "no shard manifest here") -> dict:
    """A manifest's JSON by its file or folder, format checked; ``root`` is added: the folder (or URL) its
    shard paths are relative to. Errors name the manifest file."""
    where = manifest_path(path)
    if not exists(where):
        raise InputError(where, missing)
    try:
        manifest = json.loads(read_text(where))
    except json.JSONDecodeError as exc:
        raise InputError(where, f"not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise InputError(where, f"format {got!r}, expected {MANIFEST_FORMAT}")
    manifest["root"] = where.rsplit("/", 1)[0] if "/" in where else "."
    return manifest
