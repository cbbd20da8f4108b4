"""``corpusforge shards inspect|verify``: what a shard folder holds, and whether its files agree with the manifest."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from pipelines.shards.manifest import LONG, load_manifest, same_tokenizer

app = typer.Typer(help="Inspect and verify token shards (Megatron indexed datasets + manifest).", no_args_is_help=True)


def _reader(prefix: str):
    from megatron.core.datasets.indexed_dataset import _IndexReader

    from pipelines.shards import megatron  # noqa: F401 - imports Megatron quietly

    return _IndexReader(prefix + ".idx", multimodal=False)


def length_histogram(root: str) -> Counter:
    """Documents per power-of-two token-count bucket (``<=2^k``), from the sidecar."""
    hist: Counter = Counter()
    for part in sorted(Path(root, "index").glob("part-*.parquet")):
        tokens = pq.read_table(part, columns=["tokens"]).column(0).to_numpy()
        if tokens.size:
            buckets = np.ceil(np.log2(np.maximum(tokens, 1))).astype(int)
            hist.update({int(b): int(n) for b, n in zip(*np.unique(buckets, return_counts=True), strict=True)})
    return hist


def _tokenizer_for(manifest: dict):
    from pipelines.shards.tokenizer import QWEN3, TokenizerConfig, TokenizerError

    info = manifest["tokenizer"]
    tok = TokenizerConfig(path=None if info["name"] == QWEN3 else info["name"], eod=info["eod"]).build()
    if tok.hash != info["hash"]:
        raise TokenizerError(f"the tokenizer at {info['name']} is not the one these shards were written with")
    return tok


def verify(path: str) -> list[str]:
    """Problems found (empty: all good): every shard's .idx against its .bin (sizes, pointers, document index,
    dtype, end-of-document tokens, ids below the vocabulary size) and against the manifest and the sidecar."""
    from megatron.core.datasets.indexed_dataset import DType

    m = load_manifest(path)
    root, info = m["root"], m["tokenizer"]
    dtype = np.dtype(info["dtype"])
    problems: list[str] = []
    listed = set()
    for s in m["shards"]:
        prefix = f"{root}/{s['path']}"
        listed.update({prefix + ".bin", prefix + ".idx"})
        where = s["path"]
        if s["tokenizer_hash"] != info["hash"]:
            problems.append(f"{where}: tokenizer {s['tokenizer_hash'][:12]} differs from the manifest's")
        if not (Path(prefix + ".bin").is_file() and Path(prefix + ".idx").is_file()):
            problems.append(f"{where}: .bin or .idx missing")
            continue
        try:
            idx = _reader(prefix)
        except Exception as exc:  # noqa: BLE001 - a corrupt header raises several types
            problems.append(f"{where}: unreadable .idx ({exc})")
            continue
        lengths = idx.sequence_lengths.astype(np.int64)
        if np.dtype(idx.dtype) != dtype or DType.code_from_dtype(idx.dtype) != DType.code_from_dtype(dtype.type):
            problems.append(f"{where}: token dtype {np.dtype(idx.dtype)} != manifest {dtype}")
        bin_size = Path(prefix + ".bin").stat().st_size
        if bin_size != int(lengths.sum()) * dtype.itemsize:
            problems.append(
                f"{where}: .bin has {bin_size} bytes, the .idx describes {int(lengths.sum()) * dtype.itemsize}"
            )
            continue
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * dtype.itemsize
        if not np.array_equal(idx.sequence_pointers.astype(np.int64), starts):
            problems.append(f"{where}: sequence pointers do not follow the lengths")
        if not np.array_equal(idx.document_indices, np.arange(len(lengths) + 1)):
            problems.append(f"{where}: document index is not one sequence per document")
        if len(lengths) != s["documents"] or int(lengths.sum()) != s["tokens"]:
            problems.append(
                f"{where}: {len(lengths)} documents / {int(lengths.sum())} tokens, manifest says "
                f"{s['documents']} / {s['tokens']}"
            )
        if (lengths < 2).any():
            problems.append(f"{where}: a document has no token besides its end-of-document token")
        tokens = np.memmap(prefix + ".bin", dtype=dtype, mode="r")
        if len(lengths) and (tokens[np.cumsum(lengths) - 1] != info["eod_id"]).any():
            problems.append(f"{where}: a document does not end with the end-of-document token {info['eod_id']}")
        step = 1 << 24
        for start in range(0, tokens.size, step):
            chunk = tokens[start : start + step]
            if chunk.size and (int(chunk.max()) >= info["vocab_size"] or int(chunk.min()) < 0):
                problems.append(f"{where}: token ids outside the vocabulary")
                break
        if s["bin_bytes"] != bin_size or s["idx_bytes"] != Path(prefix + ".idx").stat().st_size:
            problems.append(f"{where}: file sizes differ from the manifest")
    for folder in ("cells", "long"):
        for f in sorted(Path(root, folder).rglob("*")):
            if f.suffix in (".bin", ".idx") and str(f) not in listed:
                problems.append(f"{f.relative_to(root)}: not in the manifest")
    # the sidecar: one row per document of every (non-long) shard, with its token count
    counted: Counter = Counter()
    tokens_by: Counter = Counter()
    for part in sorted(Path(root, "index").glob("part-*.parquet")):
        t = pq.read_table(part, columns=["shard", "tokens"])
        for shard, n in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True):
            counted[shard] += 1
            tokens_by[shard] += n
    for s in m["shards"]:
        if s["kind"] != LONG and (counted[s["path"]], tokens_by[s["path"]]) != (s["documents"], s["tokens"]):
            problems.append(
                f"{s['path']}: the sidecar lists {counted[s['path']]} documents / {tokens_by[s['path']]} tokens"
            )
    total = sum(s["tokens"] for s in m["shards"] if s["kind"] != LONG)
    if total != m["totals"]["tokens"]:
        problems.append(f"manifest totals say {m['totals']['tokens']} tokens, its shards {total}")
    return problems


@app.command("verify")
def verify_command(paths: list[str] = typer.Argument(..., help="Shard folders (or their manifest.json).")) -> None:
    """Check every .idx against its .bin and the manifest; several folders must share one tokenizer."""
    console = Console()
    same_tokenizer([load_manifest(p) for p in paths])
    bad = 0
    for path in paths:
        problems = verify(path)
        bad += len(problems)
        for p in problems:
            console.print(f"[red]{path}: {p}[/red]")
        if not problems:
            m = load_manifest(path)
            console.print(f"[green]ok[/green] {path}: {len(m['shards'])} shards, {m['totals']['tokens']:,} tokens")
    if bad:
        raise typer.Exit(1)


@app.command("inspect")
def inspect_command(
    path: str = typer.Argument(..., help="A shard folder (or its manifest.json)."),
    sample: int = typer.Option(1, help="Documents to decode and show."),
    chars: int = typer.Option(400, help="Characters of each decoded sample to show."),
) -> None:
    """Cells, documents, tokens, a document length histogram and a decoded sample."""
    console = Console(width=None if sys.stdout.isatty() else 200)  # piped: whole cell names, no wrapping
    m = load_manifest(path)
    t = m["tokenizer"]
    console.print(f"tokenizer {t['name']} ({t['hash'][:12]}), vocabulary {t['vocab_size']:,}, dtype {t['dtype']}")
    table = Table(title=f"cells: {path}")
    for col in ("cell", "documents", "tokens", "shards", "long docs", "long tokens"):
        table.add_column(col, justify="left" if col == "cell" else "right")
    for name, c in m["cells"].items():
        table.add_row(
            name,
            f"{c['documents']:,}",
            f"{c['tokens']:,}",
            str(c["shards"]),
            f"{c['long_documents']:,}",
            f"{c['long_tokens']:,}",
        )
    tot = m["totals"]
    table.add_row(
        "[bold]total[/bold]",
        f"{tot['documents']:,}",
        f"{tot['tokens']:,}",
        str(tot["shards"]),
        f"{tot['long_documents']:,}",
        f"{tot['long_tokens']:,}",
    )
    console.print(table)
    hist = length_histogram(m["root"])
    if hist:
        hmax = max(hist.values())
        console.print("document length (tokens, end-of-document included):")
        for b in sorted(hist):
            lo = 1 if b == 0 else (1 << (b - 1)) + 1
            console.print(f"  {lo:>7,}-{1 << b:<7,} {hist[b]:>8,} {'#' * max(1, round(40 * hist[b] / hmax))}")
    shards = [s for s in m["shards"] if s["kind"] != LONG and s["documents"]]
    if sample and shards:
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        tok = _tokenizer_for(m)
        ds = IndexedDataset(f"{m['root']}/{shards[0]['path']}")
        for i in range(min(sample, len(ds))):
            ids = np.array(ds[i])  # a copy: the view dies with the dataset's mmap
            text = tok.decode(ids)
            console.print(f"[bold]{shards[0]['path']} #{i}[/bold] ({len(ids)} tokens):")
            console.print(text[:chars] + (" …" if len(text) > chars else ""), markup=False, highlight=False)
