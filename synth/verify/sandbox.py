"""Run untrusted code (generated programs and their tests) in a sandbox, and keep the verdict and stderr.

API (stable; used by synth.rewards and the post-training rewards):
    SandboxConfig(timeout_s=10, memory_mb=1024, processes=32, open_files=64, output_bytes=1_000_000, ...)
    Sandbox(config).run(files: dict[str, str], main: str, stdin: str = "") -> Verdict
    Sandbox(config).run_python(code: str, tests: list[str] | str) -> Verdict   # verdict.passed / .total
    Verdict(status, returncode, signal, passed, total, stdout, stderr, seconds, isolation); .ok

Each run is a separate process started by `_launch.py` as root: new network and mount namespaces (no
network; the project, data and home directories hidden; every other mount read-only; a fresh size-capped
tmpfs on /tmp is the only writable place), rlimits on CPU time, address space, processes, open files and
file size, a scrubbed environment, and an unprivileged uid of its own (random per run, so RLIMIT_NPROC and
the final sweep touch only this run's processes, and it cannot signal its parent). Its process group is
killed on timeout and every process left with its uid is swept afterwards (daemons, setsid escapes, fork
bombs). Without root or namespaces it falls back to rlimits and a socket-refusing sitecustomize under the
caller's uid (``isolation == "basic"``: project files stay readable, RLIMIT_NPROC counts the caller's
processes); ``isolation: namespaces`` in the config makes that fallback an error instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import CorpusForgeError

LAUNCHER = Path(__file__).with_name("_launch.py")
SETUP_FAILED = 97
#: directories never hidden (the interpreter and the system must stay visible)
SYSTEM_DIRS = frozenset({"/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev", "/tmp", "/var"})
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: the test harness: reads a nonce from stdin (so the program cannot print a fake result), runs the program,
#: then each test in the program's namespace, and prints "<nonce> passed total" last
HARNESS = '''
import json, os, sys, traceback
def _cf_main():
    nonce = sys.stdin.readline().strip()
    sys.stdin = open(os.devnull)
    with open("solution.py", encoding="utf-8") as f:
        source = f.read()
    with open("tests.json", encoding="utf-8") as f:
        tests = json.load(f)
    namespace = {"__name__": "__cf_solution__"}
    exec(compile(source, "solution.py", "exec"), namespace)
    passed = 0
    for i, test in enumerate(tests):
        try:
            exec(compile(test, f"test_{i}", "exec"), namespace)
            passed += 1
        except BaseException:
            traceback.print_exc()
    sys.stdout.flush()
    print(f"\\n{nonce} {passed} {len(tests)}", flush=True)
_cf_main()
'''


class SandboxError(CorpusForgeError):
    """The sandbox itself could not be set up (not the program failing inside it)."""


class SandboxConfig(Config):
    timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit; the process group is killed after it.")
    cpu_s: int | None = Field(None, ge=1, description="RLIMIT_CPU; None: the wall-clock limit, rounded up.")
    memory_mb: int = Field(1024, ge=64, description="RLIMIT_AS of the program.")
    processes: int = Field(32, ge=1, description="RLIMIT_NPROC of the sandbox uid (fork bombs stop here).")
    open_files: int = Field(64, ge=8, description="RLIMIT_NOFILE.")
    output_bytes: int = Field(1_000_000, ge=1024, description="RLIMIT_FSIZE: stdout, stderr and any file.")
    workdir_mb: int = Field(64, ge=1, description="Size of the writable tmpfs.")
    isolation: Literal["auto", "namespaces", "basic"] = Field(
        "auto", description="auto: namespaces where the kernel allows, else basic (rlimits, sockets refused)."
    )
    python: str | None = Field(None, description="Interpreter for programs; None: this Python's base interpreter.")
    hide: list[str] = Field(default_factory=list, description="More directories to hide from programs.")


@dataclass
class Verdict:
    """How one run ended. status: passed, failed, timeout, memory, output_limit, killed, setup_error."""

    status: str
    returncode: int | None
    signal: str | None
    passed: int
    total: int
    stdout: str
    stderr: str
    seconds: float
    isolation: str

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else float(self.ok)

    def to_dict(self) -> dict:
        return asdict(self)


def base_python() -> str:
    """The interpreter outside any virtualenv (a venv's python lives in the project tree, which is hidden)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def hidden_dirs(extra: list[str]) -> list[str]:
    """Directories covered by an empty tmpfs: homes, the project (and the folder holding it), the cwd."""
    candidates = ["/root", "/home", os.path.expanduser("~"), str(PROJECT_ROOT), str(PROJECT_ROOT.parent), os.getcwd()]
    out: list[str] = []
    for raw in sorted({os.path.realpath(p) for p in [*candidates, *extra]}, key=len):
        if raw in SYSTEM_DIRS or not os.path.isdir(raw) or os.path.ismount(raw):
            continue
        if any(raw.startswith(h.rstrip("/") + "/") for h in out):
            continue
        out.append(raw)
    return out


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def sweep(uid: int, rounds: int = 200) -> int:
    """SIGKILL every process running as ``uid`` until none is left (a fork bomb refills as we kill)."""
    killed = 0
    for _ in range(rounds):
        pids = _uid_processes(uid)
        if not pids:
            return killed
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.01)
    raise SandboxError(f"processes of sandbox uid {uid} survive SIGKILL: {_uid_processes(uid)}")


def _read_capped(path: str, limit: int) -> str:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n[... truncated]" if len(data) > limit else "")


class Sandbox:
    """Runs programs one process each under the limits of its config; safe to call from several threads."""

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.python = self.config.python or base_python()
        prefix = os.path.realpath(sys.base_prefix)
        self.expose = sorted({prefix, os.path.dirname(self.python)})
        self.hide = hidden_dirs(self.config.hide)

    def run(self, files: dict[str, str], main: str, stdin: str = "") -> Verdict:
        """Write ``files`` into a fresh work dir, run ``python main`` there, classify how it ended."""
        cfg = self.config
        uid = 100_000 + secrets.randbelow(900_000)
        scratch = tempfile.mkdtemp(prefix="cf-sandbox-")
        fallback = os.path.join(scratch, "work")
        os.makedirs(fallback)
        spec = {
            "uid": uid,
            "gid": uid,
            "argv": [self.python, "-I", "-B", main],
            "env": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"},
            "files": files,
            "hide": self.hide,
            "expose": self.expose,
            "isolation": cfg.isolation,
            "workdir_bytes": cfg.workdir_mb << 20,
            "fallback_dir": fallback,
            "limits": {
                "cpu_s": cfg.cpu_s or int(cfg.timeout_s + 0.999),
                "memory_bytes": cfg.memory_mb << 20,
                "processes": cfg.processes,
                "open_files": cfg.open_files,
                "output_bytes": cfg.output_bytes,
            },
        }
        report_r, report_w = os.pipe()
        spec["report_fd"] = report_w
        spec_path = os.path.join(scratch, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        out_path, err_path = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
        start = time.perf_counter()
        timed_out = False
        try:
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    [self.python, "-I", "-S", str(LAUNCHER), spec_path],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=err,
                    env={},
                    start_new_session=True,
                    pass_fds=(report_w,),
                )
                os.close(report_w)
                try:
                    proc.communicate(stdin.encode(), timeout=cfg.timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                except BrokenPipeError:
                    proc.wait()
            seconds = time.perf_counter() - start
            with os.fdopen(report_r, "rb") as report:
                isolation = report.read().decode() or "none"
            if isolation == "namespaces":
                sweep(uid)
            stdout = _read_capped(out_path, cfg.output_bytes)
            stderr = _read_capped(err_path, cfg.output_bytes)
            size = os.path.getsize(out_path) + os.path.getsize(err_path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return classify(proc.returncode, timed_out, stdout, stderr, seconds, isolation, size >= cfg.output_bytes)

    def run_python(self, code: str, tests: list[str] | str, timeout_s: float | None = None) -> Verdict:
        """Run ``code`` then each test in its namespace; passed/total count the tests that did not raise."""
        tests = [tests] if isinstance(tests, str) else list(tests)
        sandbox = self if timeout_s is None else Sandbox(self.config.model_copy(update={"timeout_s": timeout_s}))
        nonce = secrets.token_hex(16)
        files = {"solution.py": code, "tests.json": json.dumps(tests), "harness.py": HARNESS}
        verdict = sandbox.run(files, "harness.py", stdin=nonce + "\n")
        verdict.total = len(tests)
        lines = [line for line in verdict.stdout.splitlines() if line.startswith(nonce + " ")]
        if lines:
            verdict.passed = int(lines[-1].split()[1])
            verdict.stdout = verdict.stdout.replace(lines[-1], "").rstrip("\n")
        elif verdict.status == "passed":  # exited 0 before the tests ran (e.g. sys.exit in the program)
            verdict.status = "failed"
            verdict.stderr += "\n[sandbox] the program exited before its tests ran"
        if verdict.status == "passed" and verdict.passed < verdict.total:
            verdict.status = "failed"
        return verdict


def classify(
    returncode: int | None, timed_out: bool, stdout: str, stderr: str, seconds: float, isolation: str, full: bool
) -> Verdict:
    sig = signal.Signals(-returncode).name if returncode is not None and returncode < 0 else None
    if returncode == SETUP_FAILED and stderr.startswith("sandbox setup failed"):
        status = "setup_error"
    elif timed_out or sig == "SIGXCPU":
        status = "timeout"
    elif sig == "SIGXFSZ" or (full and returncode != 0):
        status = "output_limit"
    elif returncode == 0:
        status = "passed"
    elif "MemoryError" in stderr[-2000:]:
        status = "memory"
    elif sig is not None:
        status = "killed"
    else:
        status = "failed"
    return Verdict(status, returncode, sig, 0, 0, stdout, stderr, round(seconds, 4), isolation)
