"""Running ablations: one task per ablation and size (``tag``), in parallel worker processes.

A task writes ``ablations/<id>/<tag>.json`` last and atomically; that file is the completion marker, so a run
killed at any point (kill -9 included) redoes only the tasks without it, from scratch (a task's scratch
folder ``<tag>.work/`` is cleared first). A task whose loss is NaN/inf, whose worker exits non-zero or is
killed by a signal gets a ``status: failed`` marker with the reason; the fit leaves it out and counts it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from corpusforge.errors import InputError
from mixtures.plan import ablation_dirs, load_plan
from mixtures.proxy import ProxyConfig
from mixtures.space import SpaceConfig, build_space

DEFAULT_TAG = "proxy"


def result_path(abl: Path, tag: str = DEFAULT_TAG) -> Path:
    return abl / f"{tag}.json"


def write_result(path: Path, result: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)


def proxy_for(plan: dict, overrides: dict | None) -> ProxyConfig:
    base = plan["proxy"]
    if overrides:
        base = {**base, **overrides}
    return ProxyConfig.parse(base, source="plan.json")


def run_one(plan_dir: str | Path, ablation: str, tag: str = DEFAULT_TAG, seed: int | None = None,
            proxy_overrides: dict | None = None) -> dict:  # fmt: skip
    """Train and evaluate one ablation in this process; returns (and writes) its result."""
    from mixtures.blend import write_blend
    from mixtures.proxy import train_proxy

    plan_dir = Path(plan_dir)
    plan = load_plan(plan_dir)
    abl = plan_dir / "ablations" / ablation
    done = result_path(abl, tag)
    if done.is_file():
        return json.loads(done.read_text())
    mixture = json.loads((abl / "mixture.json").read_text())
    cfg = proxy_for(plan, proxy_overrides)
    space = build_space(SpaceConfig.parse(plan["space"]))
    if space.groups != plan["groups"]:
        raise InputError(str(plan_dir), "the shards' groups changed since the plan was written; plan again")
    lut = np.load(plan_dir / "vocab.npy") if (plan_dir / "vocab.npy").is_file() and cfg.vocab else None
    work = abl / f"{tag}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    weights = np.array(mixture["weights"])
    blend = write_blend(space, weights, cfg.tokens, work / "blend")
    t0 = time.perf_counter()
    result = train_proxy(space, blend, cfg, lut, mixture["seed"] if seed is None else seed, work)
    result |= {"id": ablation, "tag": tag, "wall_s": round(time.perf_counter() - t0, 2)}
    if (work / "metrics.jsonl").is_file():
        shutil.copy(work / "metrics.jsonl", abl / f"{tag}.metrics.jsonl")
    write_result(done, result)
    shutil.rmtree(work, ignore_errors=True)
    return result


def worker_command(plan_dir: str | Path, ablation: str, tag: str = DEFAULT_TAG, seed: int | None = None,
                   proxy_overrides: dict | None = None, python: str | None = None) -> list[str]:  # fmt: skip
    cmd = [python or sys.executable, "-m", "mixtures.worker", str(plan_dir), ablation, "--tag", tag]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if proxy_overrides:
        cmd += ["--proxy", json.dumps(proxy_overrides, sort_keys=True)]
    return cmd


def pending(plan_dir: str | Path, tag: str = DEFAULT_TAG, ids: list[str] | None = None,
            roles: tuple[str, ...] | None = None) -> list[str]:  # fmt: skip
    out = []
    dirs = ablation_dirs(plan_dir)
    if ids is not None:  # in the order asked (a run cut short has done the first ones)
        rank = {name: k for k, name in enumerate(ids)}
        dirs = sorted((d for d in dirs if d.name in rank), key=lambda d: rank[d.name])
    for abl in dirs:
        if roles is not None and json.loads((abl / "mixture.json").read_text())["role"] not in roles:
            continue
        if not result_path(abl, tag).is_file():
            out.append(abl.name)
    return out


def run_all(plan_dir: str | Path, workers: int = 2, tag: str = DEFAULT_TAG, ids: list[str] | None = None,
            roles: tuple[str, ...] | None = None, seed: int | None = None, proxy_overrides: dict | None = None,
            progress: bool = True, env: dict | None = None) -> dict:  # fmt: skip
    """Every unfinished task of the plan across ``workers`` processes; counts of ok / failed / skipped."""
    load_plan(plan_dir)
    total = len(pending(plan_dir, "\0none", ids, roles))
    tasks = [(name, tag, seed) for name in pending(plan_dir, tag, ids, roles)]
    counts = run_queue(plan_dir, tasks, workers, proxy_overrides, progress, env, label=f"ablations ({tag})",
                       total=total)  # fmt: skip
    return counts


def run_queue(plan_dir: str | Path, tasks: list[tuple[str, str, int | None]], workers: int = 2,
              proxy_overrides: dict | None = None, progress: bool = True, env: dict | None = None,
              label: str = "ablations", total: int | None = None) -> dict:  # fmt: skip
    """``(ablation, tag, seed)`` tasks in order across ``workers`` processes, one queue (no worker waits for
    another size or seed to finish); a task already marked done is skipped."""
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    plan_dir = Path(plan_dir)
    queue = [t for t in tasks if not result_path(plan_dir / "ablations" / t[0], t[1]).is_file()]
    total = len(tasks) if total is None else total
    counts = {"ok": 0, "failed": 0, "skipped": total - len(queue)}
    running: dict[tuple[str, str], tuple[subprocess.Popen, Path]] = {}
    child_env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    bar = Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"), disable=not progress,
    )  # fmt: skip
    with bar:
        task = bar.add_task("run", total=total, completed=counts["skipped"], info="")
        while queue or running:
            while queue and len(running) < workers:
                name, tag, seed = queue.pop(0)
                log = plan_dir / "ablations" / name / f"{tag}.log"
                with log.open("wb") as f:
                    p = subprocess.Popen(
                        worker_command(plan_dir, name, tag, seed, proxy_overrides), stdout=f, stderr=subprocess.STDOUT,
                        env=child_env,
                    )  # fmt: skip
                running[(name, tag)] = (p, log)
            time.sleep(0.2)
            for (name, tag), (p, log) in list(running.items()):
                rc = p.poll()
                if rc is None:
                    continue
                del running[(name, tag)]
                done = result_path(plan_dir / "ablations" / name, tag)
                if rc != 0 and not done.is_file():
                    why = f"killed by signal {-rc}" if rc < 0 else f"worker exited {rc}: {_tail(log)}"
                    write_result(done, {"id": name, "tag": tag, "status": "failed", "reason": why})
                status = json.loads(done.read_text()).get("status") if done.is_file() else "failed"
                counts["ok" if status == "ok" else "failed"] += 1
                bar.update(task, advance=1, info=f"ok {counts['ok']} failed {counts['failed']}")
    return counts


def _tail(log: Path) -> str:
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()] if log.is_file() else []
    return lines[-1][:300] if lines else "no output"


def emit_commands(plan_dir: str | Path, tag: str = DEFAULT_TAG) -> list[str]:
    """One shell command per unfinished ablation, for a cluster scheduler (each writes its own marker)."""
    import shlex

    return [
        f"corpusforge mixture run {shlex.quote(str(plan_dir))} --only {name} --tag {tag}"
        for name in pending(plan_dir, tag)
    ]


def collect(plan_dir: str | Path, tag: str = DEFAULT_TAG) -> tuple[list[dict], int]:
    """(ok results with their mixtures, failed count) of a plan for one tag."""
    rows, failed = [], 0
    for abl in ablation_dirs(plan_dir):
        path = result_path(abl, tag)
        if not path.is_file():
            continue
        res = json.loads(path.read_text())
        if res.get("status") != "ok":
            failed += 1
            continue
        mix = json.loads((abl / "mixture.json").read_text())
        rows.append({**res, "weights": mix["weights"], "role": mix["role"]})
    return rows, failed
