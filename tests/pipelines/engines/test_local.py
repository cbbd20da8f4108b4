"""The local engine's worker processes end with the run that started them, even when it is killed."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: Linux)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="worker clean-up relies on Linux's PR_SET_PDEATHSIG")
def test_workers_end_when_the_run_is_killed(shared_data, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    scan = shared_data / "pdf" / "docling" / "ocr_scanned" / "nemotron_multipage.pdf"
    for i in range(4):  # four slow OCR tasks: the workers are busy when the run dies
        shutil.copy(scan, src / f"scan{i}.pdf")
    config = tmp_path / "job.yaml"
    config.write_text(f"kind: pdf\ninputs: ['{src}']\noutput: {tmp_path / 'out'}\nengine: {{workers: 2}}\n")
    code = "from corpusforge.cli import main; main()"
    run = subprocess.Popen([sys.executable, "-c", code, "run", str(config), "-q"], cwd=Path(__file__).parents[3])
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [p for p in _children(run.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
            time.sleep(0.2)
        assert len(workers) >= 2, "the pool did not start"
        assert run.poll() is None, "the run finished before it could be killed"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers), "workers outlived the killed run"
    finally:
        if run.poll() is None:
            run.kill()


def test_stop_pool_leaves_no_worker_and_no_manager_thread():
    """After Ctrl-C's stop the pool's manager thread has ended too: on Python < 3.12 one still winding down races
    the interpreter's exit hook and prints a stray "Exception ignored in: <module 'threading'>" trace."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from pipelines.engines.local import stop_pool

    pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"))
    futures = [pool.submit(time.sleep, 120) for _ in range(4)]
    deadline = time.monotonic() + 60
    while not any(f.running() for f in futures) and time.monotonic() < deadline:
        time.sleep(0.05)
    manager = pool._executor_manager_thread
    processes = list(pool._processes.values())
    assert manager is not None and manager.is_alive() and processes
    started = time.monotonic()
    stop_pool(pool)
    assert time.monotonic() - started < 30, "stop_pool waited for the sleeping tasks"
    assert not manager.is_alive()
    assert not any(p.is_alive() for p in processes)
