"""Layouts past one process, on CPU: ``torchrun --nproc-per-node 2`` on gloo, started here as subprocesses.

Three launches (one process, two, one) run tests/training/dist_worker.py over the same tiny shards; the tests
compare what they wrote. Tolerance: losses and logits agree within 1e-5 absolute (fp32; they are ~6.2, and the
measured differences are below 4e-6: only the order of floating-point sums changes between layouts).

- DP=2 from scratch gives DP=1's losses at the same global batch (4 samples: 1 x 4 micro-batches at DP=1,
  1 x 2 per rank at DP=2).
- TP=2 builds the same weights as TP=1 (initialised whole on the CPU, then split): the same logits; resumed
  from the DP=1 run's step-3 checkpoint, the same losses afterwards; with sequence parallelism too.
- PP=2 (1F1B schedule over two stages) resumed from that checkpoint: the same losses; also with tied
  embeddings (the tiny-tied preset), resumed from its own PP=1 checkpoint.
- EP=2 on the tiny MoE (8 experts, 4 per rank) resumed from the EP=1 run's checkpoint: the same losses; TP=2
  with sequence parallelism on the same MoE too.
- Gradient reduction overlapped with the backward pass (the default) in every run but one (TP=2+SP without).
- The DP=2 run's step-3 checkpoint (written by Megatron's asynchronous save: a forked writer per rank) resumes
  at DP=1 with DP=1's losses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpusforge.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(nproc: int, spec: Path, timeout: float = 240) -> None:
    """``torchrun --nproc-per-node N dist_worker.py spec``, niced; the whole process group ends with it."""
    cmd = ["nice", "-n", "10", sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(_port()), str(ROOT / "tests/training/dist_worker.py"),
           str(spec)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode:
        errors = [line for line in out.splitlines() if "Error" in line or "Exception" in line]
        raise AssertionError(f"torchrun x{nproc} failed ({proc.returncode}): {errors[-5:] or out[-3000:]}")


def _recipe(root: Path, shards: Path, name: str, preset: str = "tiny", parallel: dict | None = None) -> dict:
    return {
        "name": name,
        "output": str(root / name),
        "shards": str(shards),
        "model": {"preset": preset},
        "train": {"micro_batch_size": 1, "global_batch_size": 4, "progress": False, "tensorboard": False,
                  "save_every": 3, "keep_checkpoints": 3, "parallel": parallel or {}},  # fmt: skip
        "stages": [{"name": "s1", "seq_length": 32, "tokens": 32 * 4 * 6, "lr": {"peak": 3e-3, "min": 3e-4}}],
        "export": {"enabled": False},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from tests.training.factory import write_shards

    root = tmp_path_factory.mktemp("parallel")
    shards = write_shards(root / "shards")

    def job(name, preset="tiny", parallel=None, resume=None, export=False, async_save=False):
        j = {"kind": "pretrain", "recipe": _recipe(root, shards, name, preset, parallel), "out": str(root / f"{name}.json")}
        j["recipe"]["train"]["async_save"] = async_save
        if export:  # the sharded checkpoint read back whole by every rank; rank 0 writes the transformers folder
            j["recipe"]["export"] = {"enabled": True, "generate": None}
        if resume:
            j["resume_from"] = str(root / resume / "s1" / "checkpoints" / "step_3")
        return j

    launches = [
        (1, [{"kind": "logits", "preset": "tiny", "out": str(root / "logits_tp1.npy")}, job("dp1"),
             job("moe_ep1", "tiny-moe"), job("tied_pp1", "tiny-tied")]),
        (2, [{"kind": "logits", "preset": "tiny", "parallel": {"tensor": 2}, "out": str(root / "logits_tp2.npy")},
             job("dp2", async_save=True), job("tp2", parallel={"tensor": 2}, resume="dp1", export=True),
             job("tp2_sp", parallel={"tensor": 2, "sequence_parallel": True, "overlap_grad_reduce": False},
                 resume="dp1"),
             job("moe_tp2_sp", "tiny-moe", parallel={"tensor": 2, "sequence_parallel": True}, resume="moe_ep1"),
             job("pp2", parallel={"pipeline": 2}, resume="dp1"),
             job("tied_pp2", "tiny-tied", parallel={"pipeline": 2}, resume="tied_pp1"),
             job("moe_ep2", "tiny-moe", parallel={"expert": 2}, resume="moe_ep1")]),
        (1, [job("dp1_from_dp2", resume="dp2")]),
    ]  # fmt: skip
    for i, (nproc, jobs) in enumerate(launches):
        spec = root / f"launch{i}.json"
        spec.write_text(json.dumps(jobs))
        torchrun(nproc, spec)

    def losses(name):
        return json.loads((root / f"{name}.json").read_text())["stages"]["s1"]["losses"]

    return root, losses


def _close(a, b):
    assert len(a) == len(b) and np.allclose(a, b, rtol=0, atol=TOL), (a, b)


def test_dp2_gives_dp1_losses_at_the_same_global_batch(runs):
    _, losses = runs
    assert len(losses("dp1")) == 6
    _close(losses("dp2"), losses("dp1"))


def test_tp2_gives_tp1_logits_and_losses(runs):
    root, losses = runs
    tp1, tp2 = np.load(root / "logits_tp1.npy"), np.load(root / "logits_tp2.npy")
    assert tp1.shape == tp2.shape == (2, 16, 512)
    assert np.abs(tp1 - tp2).max() < TOL
    _close(losses("tp2"), losses("dp1")[3:])
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(root / "tp2" / "hf").eval()  # exported from the TP=2 run
    import torch

    tokens = torch.arange(2 * 16).reshape(2, 16) % 510 + 2
    assert hf(tokens).logits.shape == (2, 16, 512)


@pytest.mark.parametrize(
    ("run", "reference"),
    [
        ("tp2_sp", "dp1"),  # TP=2 with sequence parallelism
        ("pp2", "dp1"),
        # the embedding on the first stage and its copy on the last start equal and stay equal (Qwen3 0.6B-4B)
        ("tied_pp2", "tied_pp1"),
        ("moe_ep2", "moe_ep1"),  # EP=2 on the tiny MoE resumes an EP=1 checkpoint
        ("moe_tp2_sp", "moe_ep1"),  # TP=2 with sequence parallelism on the tiny MoE
    ],
)
def test_a_resumed_layout_gives_its_reference_losses(runs, run, reference):
    _, losses = runs
    _close(losses(run), losses(reference)[3:])


def test_a_dp2_checkpoint_resumes_at_dp1(runs):
    root, losses = runs
    _close(losses("dp1_from_dp2"), losses("dp1")[3:])
    ckpt = root / "dp2" / "s1" / "checkpoints"
    assert (ckpt / "latest").read_text() == "step_6" and not list(ckpt.glob(".tmp-*"))
    for run in ("dp2", "tp2", "pp2"):  # rank 1 wrote its own part: replicas spread over DP, shards over TP/PP
        files = json.loads((root / run / "s1" / "checkpoints" / "step_6" / "COMPLETE").read_text())["files"]
        assert any(name.startswith("__1_") for name in files), (run, files)


# -- bad layouts and bad checkpoints: one process, no training ------------------------------------------------
@pytest.mark.parametrize(
    ("preset", "parallel", "world", "field", "problem"),
    [
        ("tiny", {"tensor": 3}, 3, "train.parallel.tensor", "does not divide the model's 4 attention heads"),
        ("tiny", {"pipeline": 4}, 4, "train.parallel.pipeline", "does not divide the model's 2 layers"),
        ("tiny-moe", {"expert": 3}, 3, "train.parallel.expert", "does not divide the model's 8 experts"),
        ("tiny", {"expert": 2}, 2, "train.parallel.expert", "needs an MoE model"),
        ("tiny", {"tensor": 2}, 3, "train.parallel", "world size 3 is not a multiple"),
        ("tiny", {"context": 2}, 2, "train.parallel.context", "Transformer Engine attention on a GPU"),
        ("tiny", {"sequence_parallel": True}, 1, "train.parallel.sequence_parallel", "needs tensor > 1"),
        ("tiny", {}, 2, "train.global_batch_size", "not a multiple of micro_batch_size"),
    ],
)
def test_bad_layouts_name_the_field(preset, parallel, world, field, problem):
    from training.parallel import ParallelSettings, resolve_layout
    from training.presets import preset as get

    with pytest.raises(ConfigError, match=problem) as err:
        resolve_layout(ParallelSettings.parse(parallel), get(preset), world=world, gpu=False,
                       micro_batch_size=1, global_batch_size=3)  # fmt: skip
    assert err.value.field == field


def test_bad_layout_fails_before_training(tmp_path):
    from tests.training.factory import write_shards
    from training.pretrain import PretrainRecipe, pretrain

    recipe = _recipe(tmp_path, write_shards(tmp_path / "s"), "bad", parallel={"tensor": 2})
    with pytest.raises(ConfigError, match="world size 1 is not a multiple"):
        pretrain(PretrainRecipe.parse(recipe))
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("train", "field"), [({"attention": "te"}, "train.attention"), ({"dtype": "bfloat16"}, "train.dtype")]
)
def test_the_gpu_path_on_a_cpu_fails_in_one_line(tmp_path, train, field):
    import torch

    from tests.training.factory import write_shards
    from training.pretrain import PretrainRecipe

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    recipe = _recipe(tmp_path, write_shards(tmp_path / "s"), "gpu")
    recipe["train"].update(train)
    with pytest.raises(ConfigError) as err:
        PretrainRecipe.parse(recipe).layout()
    assert err.value.field == field


def _copy(runs, tmp_path) -> Path:
    root, _ = runs
    dest = tmp_path / "step_3"
    shutil.copytree(root / "dp1" / "s1" / "checkpoints" / "step_3", dest)
    return dest


def test_partial_and_corrupted_checkpoints_are_named(runs, tmp_path):
    from training.checkpoint import check

    ckpt = _copy(runs, tmp_path)
    check(ckpt)
    victim = next(p for p in ckpt.iterdir() if p.suffix == ".distcp")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor data: same size
    victim.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupted checkpoint: CRC-32") as err:
        check(ckpt)
    assert victim.name in str(err.value)
    victim.write_bytes(victim.read_bytes()[:-7])
    with pytest.raises(InputError, match="corrupted checkpoint") as err:
        check(ckpt)
    assert victim.name in str(err.value)
    victim.unlink()
    with pytest.raises(InputError, match="partial checkpoint: file missing"):
        check(ckpt)
    (ckpt / "COMPLETE").unlink()
    with pytest.raises(InputError, match="no COMPLETE marker"):
        check(ckpt)


def test_old_single_file_checkpoints_are_named(tmp_path):
    from training.checkpoint import check

    (tmp_path / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(InputError, match=r"single-file checkpoint \(checkpoint.pt"):
        check(tmp_path)


def test_a_checkpoint_of_another_model_or_tokenizer_is_refused(runs, tmp_path):
    from training.checkpoint import check_model, saved_config

    ckpt = _copy(runs, tmp_path)
    model = saved_config(ckpt)["model"]
    with pytest.raises(InputError, match="another model: num_layers is 2 there, 4 here"):
        check_model(ckpt, {**model, "num_layers": 4})
    with pytest.raises(InputError, match="another tokenizer"):
        check_model(ckpt, model, tokenizer_hash="cd" * 32)


def test_loading_is_strict(runs, tmp_path):
    """A weight the model has and the checkpoint lacks is an error (tied embeddings: no output layer there)."""
    from training.checkpoint import load_into
    from training.model import build_model
    from training.presets import preset
    from training.schedule import ScheduleConfig
    from training.trainer import OptimConfig, PretrainModule

    ckpt = _copy(runs, tmp_path)
    m = preset("tiny", tie_embeddings=False, qk_norm=False)  # the checkpoint has q/k norms this model lacks
    module = PretrainModule(m, build_model(m, backend="sdpa"), OptimConfig(), ScheduleConfig().build(4))
    with pytest.raises(InputError, match="weights there and not in the model.*q_layernorm"):
        load_into(module, ckpt, optimizer=False)


def test_a_tp2_checkpoint_reads_whole_on_one_process(runs):
    """Export and post-training read a sharded checkpoint into a one-piece model: the TP=2 run's last
    checkpoint gives (within float tolerance) the weights of the DP=1 run at the same step."""
    import torch

    from training.checkpoint import read_weights

    root, _ = runs
    cfg_tp, tp = read_weights(root / "tp2" / "s1" / "checkpoints" / "step_6")
    cfg_dp, dp = read_weights(root / "dp1" / "s1" / "checkpoints" / "step_6")
    assert cfg_tp["layout"].startswith("TP=2") and cfg_dp["layout"].startswith("TP=1")
    tensors = [k for k in dp if isinstance(dp[k], torch.Tensor) and not k.endswith("_extra_state")]
    assert tensors and set(tensors) <= set(tp)
    for k in tensors:
        assert torch.allclose(tp[k], dp[k], atol=1e-5), k
