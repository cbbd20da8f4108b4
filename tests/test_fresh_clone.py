"""The README's main job, as a new user runs it: a clean clone of the committed tree, nothing beside it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip(f"needs git and a git checkout at {ROOT}")
    where = tmp_path_factory.mktemp("fresh") / "corpusforge"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(where)], check=True, timeout=120)
    assert not (where.parent / "shared").exists(), "a user's clone has no ../shared"
    return where


def test_the_clone_holds_every_recipe_input(clone):
    """Every file or folder a shipped data recipe reads is in the clone, or is written by another recipe (out/)."""
    import yaml

    for recipe in sorted((clone / "recipes").glob("*.yaml")):
        data = yaml.safe_load(recipe.read_text())
        for path in data.get("inputs", []):
            assert path.startswith("out/") or (clone / path).exists(), f"{recipe.name}: {path} is not in the clone"
        for key in ("shards", "tokenizer"):
            value = data.get(key)
            assert not isinstance(value, str) or value.startswith("out/") or (clone / value).exists(), recipe.name


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~4 minutes of CPU on 2 idle cores; far more on a shared, loaded machine
def test_the_readme_main_job_runs_from_a_clean_clone(clone):
    env = {
        **os.environ,
        "PYTHONPATH": str(clone),  # the clone's code, the shared environment's packages
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", "run", "recipes/main.yaml", "--overwrite"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    check_main_outputs(clone / "out", proc.stdout)


def check_main_outputs(out: Path, stdout: str) -> None:
    """What the README says the main job leaves: each step's outputs, the dedup, the model and its generation."""
    web = json.loads((out / "web-sample" / "funnel.json").read_text())
    assert web["ledger"]["kept"] > 0 and web["ledger"]["quarantined"] == {}
    assert web["tasks_run"] == 8
    assert 0 < web["dedup"]["ledger"]["kept"] <= web["ledger"]["kept"]
    assert (out / "web-sample" / "dedup" / "summary.json").is_file()
    synth = json.loads((out / "synth-main" / "funnel.json").read_text())
    generated, admitted = synth["ledger"]["inputs"], synth["dedup"]["ledger"]["kept"]
    assert generated == 4 and synth["ledger"]["quarantined"] == {} and (out / "synth-main" / "synth_report.json").is_file()
    manifest = json.loads((out / "shard-sample" / "manifest.json").read_text())
    assert manifest["totals"]["tokens"] > 0 and manifest["shards"]
    assert manifest["totals"]["documents"] == web["dedup"]["ledger"]["kept"] + admitted  # synthetic ones joined
    synthetic = sum(v["documents"] for s in manifest["shards"] for k, v in s["sources"].items() if k.startswith("synthetic/"))
    assert synthetic == admitted
    mixture = json.loads((out / "mixture-main" / "funnel.json").read_text())
    assert mixture["ablations"]["failed"] == 0 and (mixture.get("notes") or mixture["ablations"]["ok"] >= 4)
    pretrain = (out / "pretrain-tiny" / "config.yaml").read_text()
    for stage in ("s1-general", "s2-reasoning", "s3-long"):  # the trainer read the mixture step's blends
        assert (out / "mixture-main" / "blends" / stage / "blend.yaml").is_file()
        assert f"out/mixture-main/blends/{stage}/blend.yaml" in pretrain
    hf = out / "pretrain-tiny" / "hf"
    assert (hf / "config.json").is_file() and (hf / "model.safetensors").is_file()
    for stage in ("s1-general", "s2-reasoning", "s3-long"):
        assert (out / "pretrain-tiny" / stage / "DONE").is_file(), stage
    assert "generation: 'The" in stdout
