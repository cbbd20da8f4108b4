"""The same input and config give the same rows under the local, Spark and datatrove engines."""

import pyarrow.parquet as pq
import pytest

from pipelines.engines import run_job
from pipelines.jobs.web import WebJobConfig

SAMPLES = [
    "dolma_sample-0000.warc.gz",
    "resiliparse_warcfile.warc.gz",
    "cc_whirlwind.warc.wet.gz",
    "warcio_example-iana.org-chunked.warc",
]


def _job(shared_data, out, kind: str) -> WebJobConfig:
    return WebJobConfig.parse(
        {
            "name": "engines",
            "inputs": [str(shared_data / "warc" / name) for name in SAMPLES],
            "output": str(out),
            "engine": {"kind": kind, "workers": 2, "spark": {"master": "local[2]"}},
        }
    )


def _rows(path, key="id"):
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        if isinstance(row.get("meta"), list):
            row["meta"] = dict(row["meta"])
    return sorted(rows, key=lambda r: r[key])


@pytest.mark.spark
def test_local_spark_and_datatrove_give_the_same_rows(shared_data, tmp_path, spark):
    results = {kind: run_job(_job(shared_data, tmp_path / kind, kind)) for kind in ("local", "spark", "datatrove")}
    docs = {kind: _rows(tmp_path / kind / "documents") for kind in results}
    assert len(docs["local"]) > 5, "the sample should keep some documents"
    assert docs["spark"] == docs["local"]
    assert docs["datatrove"] == docs["local"]

    audit_cols = ("id", "stage", "status", "reason", "task")
    audits = {k: [tuple(r[c] for c in audit_cols) for r in _rows(tmp_path / k / "audit")] for k in results}
    assert audits["spark"] == audits["local"] == audits["datatrove"]

    ledgers = {kind: r.ledger.to_dict() for kind, r in results.items()}
    assert ledgers["spark"] == ledgers["local"] == ledgers["datatrove"]
    assert ledgers["local"]["inputs"] == ledgers["local"]["kept"] + sum(ledgers["local"]["dropped"].values()) + sum(
        ledgers["local"]["quarantined"].values()
    )


def test_local_and_datatrove_write_byte_identical_part_files(shared_data, tmp_path, assert_same_part_files):
    for kind in ("local", "datatrove"):
        run_job(_job(shared_data, tmp_path / kind, kind))
    assert_same_part_files(tmp_path / "local", tmp_path / "datatrove")
