from pathlib import Path

import pytest

from corpusforge.job import load_job
from pipelines.jobs.dedup import DedupJobConfig
from pipelines.jobs.pdf import PdfJobConfig
from pipelines.jobs.web import WebJobConfig

ALL_RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
# annotator, pretraining and post-training recipes are not data jobs: tests/annotators/test_student.py,
# tests/training/test_recipes.py and tests/training/posttrain/ validate them
NOT_DATA = ("kind: annotators", "kind: pretrain", "kind: sft", "kind: grpo", "kind: distill")
RECIPES = [p for p in ALL_RECIPES if not any(k in p.read_text() for k in NOT_DATA)]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    job = load_job(path)
    if isinstance(job, WebJobConfig):
        assert job.build_stages(), "a recipe builds its stages"
    elif isinstance(job, PdfJobConfig):
        assert job.pdf.max_pages > 0
    elif job.kind == "pipeline":
        assert len(job.build()) == len(job.steps)  # every step's recipe loads and validates
    elif job.kind == "synth":
        assert job.generators and job.build_stages()
    elif type(job).__name__ == "ShardJobConfig":
        assert job.shard.cells.keys and job.shard.tokenizer.eod
    elif job.kind == "label":
        assert job.labels.heads
    elif job.kind == "mixture":
        assert job.stages and job.space.shards
    else:
        assert isinstance(job, DedupJobConfig) and job.dedup.enabled


def test_the_main_job_chains_dedup():
    job = load_job(Path(__file__).resolve().parents[1] / "recipes" / "web-sample.yaml")
    assert job.dedup is not None and job.dedup_job().inputs == [f"{job.output}/documents"]
