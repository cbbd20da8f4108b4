"""Per-document dedup keys: canonical URL, normalised-text hash, LSH band keys, survivor sort values.

Computing keys is the only pass over text (every engine runs this same code on its workers); the global
phases then work on these small rows alone.
"""

from __future__ import annotations

import fnmatch
import math
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import xxhash

from corpusforge.record import Record
from pipelines.dedup.config import DedupConfig, ExactDedupConfig, SortKey, UrlDedupConfig
from pipelines.dedup.minhash import MinHasher

EMPTY_REASON = "empty_text"
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str | None, config: UrlDedupConfig) -> str | None:
    """Scheme and host lower-cased, default port, fragment, tracking parameters and ``www.`` dropped."""
    if not url or not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower() or "http"
    host = (parts.hostname or "").rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    patterns = [p.lower() for p in config.strip_params]
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not any(fnmatch.fnmatchcase(k.lower(), p) for p in patterns)
    )
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    # http and https fetches of one page are one page
    return urlunsplit(("", netloc, path, urlencode(query), "")).lstrip("/")


def exact_key(text: str, config: ExactDedupConfig) -> str:
    if config.lowercase:
        text = text.lower()
    if config.strip_punctuation:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "S")))
    if config.digits_to_zero:
        text = _DIGIT.sub("0", text)
    text = _SPACE.sub(" ", text).strip() if config.collapse_whitespace else text
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


def sort_value(record: Record, key: SortKey):
    if key.field == "length":
        value = len(record.text)
    elif key.field.startswith("meta."):
        value = record.meta.get(key.field[5:])
    else:
        value = getattr(record, key.field)
    if key.type == "float":
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(value) else value
    return None if value is None else str(value)


def fingerprint_schema(config: DedupConfig) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("task", pa.int32(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("empty", pa.bool_(), nullable=False),
        pa.field("url_key", pa.string()),
        pa.field("fetch_time", pa.string()),
        pa.field("exact", pa.string()),
        pa.field("shingles", pa.string()),
        pa.field("bands", pa.list_(pa.int64())),
    ]
    if config.fuzzy.verify.enabled:  # the shingle sets themselves, for the true Jaccard of candidate pairs
        fields.append(pa.field("hashes", pa.list_(pa.int64())))
    for i, key in enumerate(config.survivor_keys()):
        fields.append(pa.field(f"k{i}", pa.float64() if key.type == "float" else pa.string()))
    return pa.schema(fields)


class Fingerprinter:
    """Turns records into fingerprint rows; one per worker (the permutations are built once)."""

    def __init__(self, config: DedupConfig):
        self.config = config
        self.hasher = MinHasher(config.fuzzy.minhash)
        self.keys = config.survivor_keys()
        self.schema = fingerprint_schema(config)

    def table(self, records: Iterable[Record], task: int, first_row: int = 0) -> pa.Table:
        """Rows ``first_row, first_row + 1, ...`` of input ``task``: (task, row) finds the record again."""
        cfg = self.config
        rows, shingle_sets, fuzzy_rows = [], [], []
        verify = cfg.fuzzy.verify.enabled
        for record in records:
            empty = not record.text.strip()
            row = {
                "id": record.id,
                "task": task,
                "row": first_row + len(rows),
                "empty": empty,
                "url_key": canonical_url(record.url, cfg.url) if cfg.url.enabled else None,
                "fetch_time": record.meta.get("fetch_time"),
                "exact": None if empty or not cfg.exact.enabled else exact_key(record.text, cfg.exact),
                "shingles": None,
                "bands": None,
            }
            if verify:
                row["hashes"] = None
            for i, key in enumerate(self.keys):
                row[f"k{i}"] = sort_value(record, key)
            if not empty and cfg.fuzzy.enabled and cfg.fuzzy.backend == "corpusforge":
                shingles = self.hasher.shingles(record.text, record.lang)
                if shingles is not None:
                    row["shingles"] = shingles.mode
                    if verify:
                        row["hashes"] = shingles.hashes.astype(np.int64)
                    shingle_sets.append(shingles.hashes)
                    fuzzy_rows.append(len(rows))
            rows.append(row)
        if shingle_sets:
            bands = self.hasher.band_keys(self.hasher.signatures(shingle_sets))
            for i, keys in zip(fuzzy_rows, bands.tolist(), strict=True):
                rows[i]["bands"] = keys
        return pa.Table.from_pylist(rows, schema=self.schema)
