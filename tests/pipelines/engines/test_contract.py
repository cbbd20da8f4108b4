"""The job contract: a kind that writes only its tasks gets resume, markers, the ledger check, funnel.json, the
saved config and the refusal of another engine's output from the engines."""

import json
from typing import Literal

import pytest

from corpusforge.errors import ConfigError
from corpusforge.fs import write_text
from corpusforge.job import Job, Once, PerFile
from corpusforge.record import Record
from pipelines.engines import run_job
from pipelines.jobs.base import JobConfig
from pipelines.stage import Outcome
from pipelines.task import TaskWriter

CALLS: list[str] = []  # one local worker runs the tasks in this process, so the test sees every call


def count_words(job, task: int, path: str) -> bool:
    """A per-file task: one record per line, kept with its word count (a blank line is dropped)."""
    CALLS.append(f"task {task}")
    writer = TaskWriter(job.output, task, job.name)
    with open(path) as f:
        for i, line in enumerate(f.read().splitlines()):
            record = Record(id=f"{task}-{i}", text=line, source="lines", meta={"words": str(len(line.split()))})
            writer.add(Outcome(record) if line.strip() else Outcome(record, "dropped", "count", "blank"))
    writer.close()
    return True


def total(job, files: list[str], engine) -> None:
    CALLS.append("total")
    write_text(f"{job.output}/total.txt", str(len(files)))


class LinesJobConfig(JobConfig):
    kind: Literal["lines"] = "lines"
    name: str = "lines"

    def input_files(self) -> list[str]:
        return list(self.inputs)

    def tasks(self, files):
        return [PerFile(count_words, "lines"), Once(total, done="_work/total.done")]


def _job(tmp_path, kind: str = "local") -> LinesJobConfig:
    for i, text in enumerate(["a b c\n\nd e\n", "one\ntwo words\n"]):
        (tmp_path / f"in-{i}.txt").write_text(text)
    files = [str(tmp_path / f"in-{i}.txt") for i in range(2)]
    return LinesJobConfig(inputs=files, output=str(tmp_path / "out"), engine={"kind": kind, "workers": 1})


def test_a_new_kind_gets_resume_markers_ledger_and_funnel(tmp_path):
    CALLS.clear()
    job = _job(tmp_path)
    first = run_job(job)
    assert CALLS == ["task 0", "task 1", "total"]
    assert first.ledger.inputs == 5 and first.ledger.kept == 4 and first.ledger.dropped == {"blank": 1}
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["ledger"]["kept"] == 4 and funnel["tasks_run"] == 2
    assert (tmp_path / "out" / "config.yaml").read_text() == job.to_yaml()

    CALLS.clear()
    (tmp_path / "out" / "_completions" / "00001").unlink()  # a task killed before its marker
    again = run_job(job)
    assert CALLS == ["task 1"]  # the engine skips task 0 (its marker) and the global step (its marker)
    assert again.tasks_run == 1 and again.tasks_skipped == 1 and again.ledger.to_dict() == first.ledger.to_dict()

    with pytest.raises(ConfigError, match="written by the local engine"):
        run_job(_job(tmp_path, "datatrove"))
    with pytest.raises(ConfigError, match="different config"):
        run_job(job.model_copy(update={"name": "renamed"}))


def test_a_kind_without_its_fields_fails_when_defined():
    with pytest.raises(TypeError, match="lacks the field"):

        class NoOutput(Job):
            kind: Literal["x"] = "x"
            name: str = "x"


def test_a_task_that_is_none_of_the_three_is_refused(tmp_path):
    class Odd(LinesJobConfig):
        def tasks(self, files):
            return ["not a task"]

    job = Odd(inputs=[str(tmp_path / "in.txt")], output=str(tmp_path / "out"), engine={"workers": 1})
    with pytest.raises(TypeError, match="not a Stages, PerFile or Once"):
        run_job(job)
