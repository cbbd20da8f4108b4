"""The code verifier stage over a stream of hostile samples: each escape attempt is contained and dropped with its
verdict (stderr kept in the detail), and the stage goes on to admit the honest sample that follows."""

from __future__ import annotations

import os

import pytest

from corpusforge.ledger import DROPPED, KEPT
from corpusforge.record import Record
from pipelines.stage import Outcome, apply_stages
from pipelines.synth_stages import CodeVerifyStage
from synth.verify.sandbox import SandboxConfig

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespace sandbox needs root")

HOSTILE = {  # name -> (function body, the reason the stage must give)
    "loop": ("def f():\n    while True:\n        pass\n", "code_timeout"),
    "fork_bomb": ("import os\ndef f():\n    while True:\n        try:\n            os.fork()\n        except OSError:\n"
                  "            pass\n", "code_timeout"),  # fmt: skip
    # RLIMIT_AS turns the hog into a MemoryError inside the test harness: a failed test (stderr says which)
    "memory": ("def f():\n    x = []\n    while True:\n        x.append(bytearray(10 ** 7))\n", "code_failed"),
    "output": ("import sys\ndef f():\n    while True:\n        sys.stdout.write('x' * 65536)\n", "code_output_limit"),
    "parent": ("import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n", "code_failed"),
    "home": ("def f():\n    return open('/root/.bashrc').read()\n", "code_failed"),
    "shell": ("import subprocess\ndef f():\n    return subprocess.run(['sh', '-c', 'cat /etc/shadow'], check=True)\n",
              "code_failed"),  # fmt: skip
    "socket": ("import socket\ndef f():\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n", "code_failed"),
}


def sample(name: str, code: str, test: str = "assert f() is None") -> Record:
    text = f"```python\n{code}\n```\n\nTests:\n```python\n{test}\n```"
    return Record(id=name, text=text, source="synthetic/code", meta={"generator": "code"})


def test_every_escape_is_dropped_with_its_verdict_and_the_stage_goes_on():
    # 8 s, not 3: at a load average of 8-10 on 2 cores the memory hog's harness overran 3 s (a timeout verdict)
    stage = CodeVerifyStage(SandboxConfig(timeout_s=8, memory_mb=256, processes=16, output_bytes=64_000))
    records = [sample(n, code) for n, (code, _) in HOSTILE.items()]
    records.append(sample("honest", "def f():\n    return 41 + 1\n", "assert f() == 42"))
    outcomes: dict[str, Outcome] = {o.record.id: o for o in apply_stages((Outcome(r) for r in records), [stage])}
    for name, (_, reason) in HOSTILE.items():
        assert (outcomes[name].status, outcomes[name].reason) == (DROPPED, reason), (name, outcomes[name].detail)
        assert outcomes[name].detail.startswith("0/1 tests")  # the verdict, then the program's stderr
    assert "MemoryError" in outcomes["memory"].detail and "PermissionError" in outcomes["parent"].detail
    assert outcomes["honest"].status == KEPT and outcomes["honest"].record.meta["tests_passed"] == "1/1"
    assert os.path.exists("/etc/passwd") and os.getpid() > 0  # this process and the machine are unharmed
