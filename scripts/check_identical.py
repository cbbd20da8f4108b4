"""Byte-identity check of the sample recipes between two checkouts (e.g. before and after a refactor).

    python scripts/check_identical.py run REPO MANIFEST    # run the recipes in REPO (cwd REPO, its code first
                                                          # on PYTHONPATH), hash every output file into MANIFEST
    python scripts/check_identical.py compare A.json B.json  # exit 1 on any differing, missing or extra file

Runs on the local engine: web-sample (labels, chained dedup), dedup, a label job over web-sample's documents,
shard-sample, pdf-sample. Every output file is compared byte for byte (funnel.json and the ledgers carry counts
only, no times), with one exception: ``config.yaml`` is compared with the two fields the job-contract change
added cut out, as an older checkout has neither: the ``engine.datatrove:`` block (the datatrove executor choice)
and the line ``  annotators: {}`` (``labels.annotators``, more annotators by name; empty by default).
Against a checkout older than the engine-kept per-file markers (``PerFile.done``), B also has the shard job's
count-step markers ``shard-sample/_work/counts/_completions/*`` (new files; nothing else changes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUNS = [
    ("web-sample", ["recipes/web-sample.yaml"]),
    ("dedup", ["recipes/dedup.yaml"]),
    (
        "label",
        [
            "recipes/mixture-corpus-label.yaml",
            "--set",
            "inputs=[out/web-sample/documents]",
            "--set",
            "output=out/label",
        ],
    ),
    # web documents only: the recipe also reads the main job's synthetic documents (a generation step not run here)
    ("shard-sample", ["recipes/shard-sample.yaml", "--set", "inputs=[out/web-sample/dedup/documents]"]),
    ("pdf-sample", ["recipes/pdf-sample.yaml"]),
]


def _without_datatrove_block(text: bytes) -> bytes:
    """The resolved config without ``engine.datatrove`` (two-space indented under ``engine:``) and without an
    empty ``labels.annotators``."""
    out, skipping = [], False
    for line in text.decode().splitlines(keepends=True):
        if line == "  annotators: {}\n":
            continue
        if line.startswith("  datatrove:"):
            skipping = True
            continue
        if skipping and line.startswith("   "):
            continue
        skipping = False
        out.append(line)
    return "".join(out).encode()


def run(repo: Path, manifest: Path) -> None:
    out = repo / "out"
    env = {**os.environ, "PYTHONPATH": str(repo)}
    cli = [sys.executable, "-m", "corpusforge.cli"]
    times = {}
    for name, args in RUNS:
        shutil.rmtree(out / name, ignore_errors=True)
        start = time.time()
        subprocess.run([*cli, "run", *args, "--quiet", "--workers", "2"], cwd=repo, env=env, check=True)
        times[name] = round(time.time() - start, 1)
        print(f"{name}: {times[name]} s", flush=True)
    hashes = {}
    for name, _ in RUNS:
        for path in sorted((out / name).rglob("*")):
            rel = str(path.relative_to(out))
            if path.is_file():
                data = path.read_bytes()
                if path.name == "config.yaml":
                    data = _without_datatrove_block(data)
                hashes[rel] = hashlib.sha256(data).hexdigest()
    manifest.write_text(json.dumps({"files": hashes, "seconds": times}, indent=1))
    print(f"{len(hashes)} files hashed into {manifest}")


def compare(a: Path, b: Path) -> int:
    fa, fb = json.loads(a.read_text())["files"], json.loads(b.read_text())["files"]
    bad = 0
    for rel in sorted(set(fa) | set(fb)):
        if fa.get(rel) != fb.get(rel):
            bad += 1
            print(f"differs: {rel} ({'missing' if rel not in fa else 'present'} in A, "
                  f"{'missing' if rel not in fb else 'present'} in B)")  # fmt: skip
    print(f"{len(fa)} files in A, {len(fb)} in B, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        run(Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve())
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        print(__doc__)
        sys.exit(2)
