import pytest
import yaml

from corpusforge.config import parse_override
from corpusforge.errors import ConfigError
from pipelines.jobs.web import WebJobConfig


def _write(tmp_path, data) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_invalid_field_is_named(tmp_path):
    path = _write(tmp_path, {"inputs": ["x"], "output": "o", "filters": {"gopher_quality": {"min_doc_words": "many"}}})
    with pytest.raises(ConfigError) as err:
        WebJobConfig.load(path)
    assert err.value.field == "filters.gopher_quality.min_doc_words"
    assert "filters.gopher_quality.min_doc_words" in str(err.value)


def test_unknown_field_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        WebJobConfig.load(_write(tmp_path, {"inputs": ["x"], "output": "o", "langid": {"min_scor": 0.5}}))
    assert err.value.field == "langid.min_scor"


def test_missing_and_out_of_range_fields(tmp_path):
    with pytest.raises(ConfigError) as err:
        WebJobConfig.load(_write(tmp_path, {"inputs": ["x"]}))
    assert err.value.field == "output"
    with pytest.raises(ConfigError) as err:
        WebJobConfig.load(_write(tmp_path, {"inputs": ["x"], "output": "o", "langid": {"min_score": 2}}))
    assert err.value.field == "langid.min_score"


def test_inputs_matching_nothing_fail_before_work(tmp_path):
    job = WebJobConfig.parse({"inputs": [str(tmp_path / "none-*.warc.gz")], "output": str(tmp_path / "out")})
    with pytest.raises(ConfigError) as err:
        from pipelines.engines import run_job

        run_job(job)
    assert err.value.field == "inputs"
    assert not (tmp_path / "out").exists()


def test_overrides_and_resolved_yaml_round_trip(tmp_path):
    path = _write(tmp_path, {"inputs": ["x"], "output": "o"})
    job = WebJobConfig.load(path, dict([parse_override("engine.kind=spark"), parse_override("langid.min_score=0.3")]))
    assert job.engine.kind == "spark" and job.langid.min_score == 0.3
    again = WebJobConfig.parse(yaml.safe_load(job.to_yaml()))
    assert again == job


def test_not_yaml_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        WebJobConfig.load(str(path))
    assert "bad.yaml" in str(err.value)
