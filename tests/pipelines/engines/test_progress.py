"""Progress per stage: records done, records/s and an ETA weighted by input bytes (not only a file count)."""

from pipelines.engines import run_job
from pipelines.engines.local import _progress
from pipelines.jobs.web import WebJobConfig
from tests.pipelines.warc_factory import Page, good_html, write_warc


def test_a_job_reports_records_and_their_rate(tmp_path, capsys):
    for k in range(2):
        write_warc(tmp_path / f"in-{k}.warc.gz", [Page(f"https://example.org/{k}/{i}", good_html(i)) for i in range(4)])
    job = WebJobConfig(name="web", inputs=[str(tmp_path / "in-*.warc.gz")], output=str(tmp_path / "out"))
    job = job.model_copy(update={"engine": job.engine.model_copy(update={"workers": 1})})
    result = run_job(job, progress=True)
    out = capsys.readouterr().out
    assert f"web records: {result.ledger.inputs:,} in " in out and "/s)" in out


def test_the_bar_counts_records_from_task_summaries_and_weights_the_eta_by_bytes(tmp_path):
    small, big = tmp_path / "a", tmp_path / "b"
    small.write_bytes(b"x" * 100)
    big.write_bytes(b"x" * 900)

    class Job:
        name, output = "web", str(tmp_path)

    bar = _progress(True, Job(), [str(small), str(big)])
    done = bar.__enter__()
    done(0, {"ledger": {"inputs": 40}})
    task = bar.bar.tasks[0]
    assert (task.completed, task.total) == (100, 1000)  # a tenth of the bytes, half the files
    assert task.fields["rate"].startswith("40 rec ")
    done(1, {"ledger": {"inputs": 360}})
    assert bar.records == 400 and bar.bar.tasks[0].finished
    bar.__exit__(None, None, None)
