"""The label stage: one pass writes every label, versions in meta, thresholds drop with reasons, engines agree."""

import pickle

import pyarrow.parquet as pq
import pytest

from annotators.base import META, NOTES, Annotator
from corpusforge.errors import ConfigError, Drop
from corpusforge.job import job_kinds
from corpusforge.record import Record, to_table
from pipelines.engines import run_job
from pipelines.jobs.label import LabelJobConfig
from pipelines.jobs.web import WebJobConfig
from pipelines.label import LabelConfig, LabelStage
from tests.annotators.tiny_heads import class_words, train_all


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return train_all(tmp_path_factory.mktemp("heads"))


def _text(head, label, n=4):
    return " ".join(class_words(head)[label][:n])


def _records() -> list[Record]:
    texts = [
        f"{_text('domain', 'food_dining')} {_text('edu', '5')} mail me at chef@example.com.\nA second line.",
        f"{_text('toxicity', 'toxic')} {_text('edu', '0')} call 555-123-4567",
        f"{_text('adult', 'adult')} {_text('domain', 'adult')}",
        "",  # empty
        "\x00\x01\x02\xff\xfe binary \x89PNG\r\n\x1a\n" * 50,  # garbage decoded as text
        "x " * 5_000_000,  # 10 MB
        "Mixed: Привет мир, 你好世界, مرحبا بالعالم, hello world.",
    ]
    return [Record(id=f"doc-{i}", text=t, source="test") for i, t in enumerate(texts)]


def test_stage_writes_every_label_and_versions(models):
    stage = LabelStage(LabelConfig(models=models, pii={"redact": True}))
    stage.setup()
    rec = stage.apply(_records()[0])
    assert rec.domain == "food_dining" and 0 < rec.domain_score <= 1
    assert rec.doc_format is not None and rec.academic_field is not None
    assert rec.edu_score > 4 and rec.toxicity < 0.5 and rec.adult < 0.5
    assert rec.pii == "email" and rec.meta["pii.email"] == "1" and rec.meta["pii_redacted"] == "email:1"
    assert "<EMAIL>" in rec.text and "chef@" not in rec.text
    assert rec.quality["lines"] == 2 and rec.quality["words"] > 10
    for name in ("domain", "format", "field", "edu", "toxicity", "adult", "pii", "quality"):
        assert rec.meta[f"annotator.{name}"], name


def test_fused_heads_write_the_columns_each_model_writes_alone(models):
    fused, alone = (LabelStage(LabelConfig(models=models, fuse=f, pii={"enabled": False})) for f in (True, False))
    fused.setup()
    alone.setup()
    passes = fused.annotators[0]._passes
    assert [len(heads) for _, scorers in passes for _, heads in scorers] == [8]  # one pass for every head
    columns = ("domain", "domain_score", "doc_format", "academic_field", "edu_score", "toxicity", "adult", "hate",
               "offensive")  # fmt: skip
    for a, b in zip(_records(), _records(), strict=True):
        try:
            a, b = fused.apply(a), alone.apply(b)
        except Drop:
            continue
        for column in columns:
            x, y = getattr(a, column), getattr(b, column)
            assert x == pytest.approx(y, abs=1e-5) if isinstance(y, float) else x == y, column
    clone = pickle.loads(pickle.dumps(fused))  # after setup: the fastText models stay behind, setup rebuilds
    assert clone.apply(_records()[0]).domain == "food_dining"


def test_thresholds_drop_with_named_reasons(models):
    config = LabelConfig(models=models, max_toxicity=0.5, max_adult=0.5, min_edu=1.0)
    stage = LabelStage(config)
    records = _records()
    reasons = []
    for rec in records[:4]:
        try:
            stage.apply(rec)
            reasons.append("kept")
        except Drop as drop:
            reasons.append(drop.reason)
    assert reasons == ["kept", "toxic", "adult", "empty_text"]
    stage = LabelStage(LabelConfig(models=models, max_hate=0.5, max_offensive=0.5))
    texts = [_records()[0].text, _text("hate", "hate"), _text("offensive", "offensive")]
    reasons = []
    for i, text in enumerate(texts):
        try:
            rec = stage.apply(Record(id=f"s{i}", text=text, source="test"))
            reasons.append("kept")
            assert rec.hate < 0.5 and rec.offensive < 0.5
        except Drop as drop:
            reasons.append(drop.reason)
    assert reasons == ["kept", "hate", "offensive"]


def test_each_head_reads_its_own_part_of_the_document(models):
    from annotators.fasttext_head import FastTextHead, read_windows
    from pipelines.label import DEFAULT_READS

    text = f"{_text('domain', 'food_dining')} " + "filler1 " * 400 + _text("edu", "5")
    reads = {"domain": {"chars": 64}, "edu": {"chars": 300, "windows": 3}}
    stage = LabelStage(LabelConfig(models=models, reads=reads, quality=False, pii={"enabled": False}))
    stage.setup()
    rec = stage.apply(Record(id="r", text=text, source="test"))
    assert rec.domain == "food_dining" and rec.edu_score > 4  # the edu words sit at the end, past every prefix
    assert rec.edu_score == pytest.approx(FastTextHead("edu", models["edu"]).values(read_windows(text, 300, 3))[0])
    assert set(DEFAULT_READS) >= {"domain", "format", "edu", "toxicity", "adult", "hate", "offensive"}
    with pytest.raises(ConfigError, match="reads.nope"):
        LabelConfig.parse({"models": models, "reads": {"nope": {"chars": 10}}})


def test_invalid_config_fails_naming_the_field(models, tmp_path):
    with pytest.raises(ConfigError, match="max_toxicity"):
        LabelConfig.parse({"models": models, "heads": ["domain"], "max_toxicity": 0.5})
    with pytest.raises(ConfigError, match="min_edu"):
        LabelConfig.parse({"models": models, "min_edu": 7})
    with pytest.raises(ConfigError, match="models.domain.*annotate train"):
        LabelConfig.parse({"models": {**models, "domain": str(tmp_path / "missing.ftz")}})
    with pytest.raises(ConfigError, match="labels"):
        WebJobConfig.parse({"inputs": ["x"], "output": "y", "labels": {"models": models, "heads": ["nope"]}})


def test_web_job_labels_are_off_by_default(models):
    job = WebJobConfig.parse({"inputs": ["x"], "output": "y"})
    assert job.labels is None and not any(s.name == "label" for s in job.build_stages())
    job = WebJobConfig.parse({"inputs": ["x"], "output": "y", "labels": {"models": models}})
    assert job.build_stages()[-1].name == "label"
    assert job_kinds()["label"] == "pipelines.jobs.label:LabelJobConfig"


def _input(tmp_path):
    folder = tmp_path / "in" / "documents"
    folder.mkdir(parents=True)
    records = _records()
    pq.write_table(to_table(records[:4]), folder / "part-00000.parquet")
    pq.write_table(to_table(records[4:]), folder / "part-00001.parquet")
    return folder


def _job(models, inputs, out, kind) -> LabelJobConfig:
    return LabelJobConfig.parse(
        {
            "inputs": [str(inputs)],
            "output": str(out),
            "engine": {"kind": kind, "workers": 2},
            "labels": {"models": models, "max_toxicity": 0.5, "pii": {"redact": True}},
        }
    )


def _rows(path):
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        for key in ("meta", "quality"):
            if key in row:
                row[key] = dict(row[key] or [])
    return sorted(rows, key=lambda r: r["id"])


def test_label_job_on_the_local_engine_balances_and_counts_bad_input(models, tmp_path):
    result = run_job(_job(models, _input(tmp_path), tmp_path / "out", "local"))
    led = result.ledger.to_dict()
    assert led["inputs"] == 7 and led["kept"] == 5
    assert led["dropped"] == {"empty_text": 1, "toxic": 1}
    assert led["notes"] == {"label_quality_truncated": 1, "pii_redacted": 1}
    rows = {r["id"]: r for r in _rows(tmp_path / "out" / "documents")}
    assert rows["doc-4"]["quality"]["bad_char_ratio"] > 0.1  # garbage is labelled, and visible as such
    assert rows["doc-5"]["quality"]["chars"] == 10_000_000 and rows["doc-5"]["domain"] is not None
    assert rows["doc-6"]["pii"] == ""
    audit = _rows(tmp_path / "out" / "audit")
    assert [(r["id"], r["reason"]) for r in audit] == [("doc-1", "toxic"), ("doc-3", "empty_text")]


def test_an_unreadable_part_is_quarantined_not_fatal(models, tmp_path):
    folder = _input(tmp_path)
    job = _job(models, folder, tmp_path / "out", "local")
    files = job.input_files()
    (folder / "part-00001.parquet").write_bytes(b"PAR1 not really")  # broken after validation
    from pipelines.engines import run_tasks

    result = run_tasks(job, files)
    assert result.ledger.quarantined_total == 1 and result.ledger.inputs == 5


@pytest.mark.spark
def test_local_and_spark_give_the_same_rows(models, tmp_path, spark):
    inputs = _input(tmp_path)
    results = {k: run_job(_job(models, inputs, tmp_path / k, k)) for k in ("local", "spark")}
    assert _rows(tmp_path / "spark" / "documents") == _rows(tmp_path / "local" / "documents")
    assert results["spark"].ledger.to_dict() == results["local"].ledger.to_dict()


def test_documents_without_a_language_get_one_and_the_others_keep_theirs(models, tmp_path):
    """Language ID runs by default on records that lack `lang` (lid.176, as in the web job), never drops, and
    leaves a language a previous job set alone."""
    folder = tmp_path / "in"
    folder.mkdir()
    english = "The river that runs through the old town was once the main road for merchants and their goods."
    german = "Der Fluss, der durch die Altstadt fließt, war einst die wichtigste Straße für die Händler der Region."
    records = [
        Record(id="en", text=english, source="pdf"),
        Record(id="de", text=german, source="pdf"),
        Record(id="set", text=english, source="web", lang="fr", lang_score=0.9),
        Record(id="short", text="ok", source="pdf"),
    ]
    pq.write_table(to_table(records), folder / "part-00000.parquet")
    job = LabelJobConfig.parse({"inputs": [str(folder)], "output": str(tmp_path / "out"), "labels": {"models": models}})
    result = run_job(job)
    assert result.ledger.kept == 4
    rows = {r["id"]: r for r in _rows(tmp_path / "out" / "documents")}
    assert (rows["en"]["lang"], rows["de"]["lang"]) == ("en", "de")
    assert rows["en"]["lang_score"] > 0.5 and rows["en"]["meta"]["annotator.langid"]
    assert (rows["set"]["lang"], rows["set"]["lang_score"]) == ("fr", 0.9)
    assert rows["short"]["lang"] is not None  # labelled, not dropped for a low score


def test_heads_below_their_bar_are_flagged(models, tmp_path):
    from annotators.bars import Bar, record_evaluation

    # the tiny heads have no evaluated card: every one fails, and the records and the funnel say so
    stage = LabelStage(LabelConfig(models=models, pii={"enabled": False}, quality=False))
    rec = stage.apply(Record(id="a", text="some text", source="t"))
    assert rec.meta["labels.failing"] == "domain,format,field,edu,toxicity,adult,hate,offensive"
    record_evaluation(models["domain"], "reference_heldout", {"accuracy": 0.9, "baseline": {"accuracy": 0.2}})
    none = {h: [] for h in ("format", "field", "edu", "toxicity", "adult", "hate", "offensive")}
    bar = [Bar(evaluation="reference_heldout", metric="accuracy", min=0.7)]
    stage = LabelStage(LabelConfig(models=models, pii={"enabled": False}, quality=False, bars={"domain": bar, **none}))
    assert "labels.failing" not in stage.apply(Record(id="b", text="some text", source="t")).meta
    parts = tmp_path / "in"
    parts.mkdir()
    pq.write_table(to_table([Record(id="c", text="x y", source="t")]), parts / "part-00000.parquet")
    job = LabelJobConfig(inputs=[str(parts)], output=str(tmp_path / "out"), labels={"models": models})
    run_job(job)
    funnel = (tmp_path / "out" / "funnel.json").read_text()
    assert "heads below their bar" in funnel and "toxicity" in funnel


class ShoutCount(Annotator):
    """An annotator the label stage has never heard of: counts upper-case letters into meta, notes shouting."""

    name = "shout"
    version = "test-1"

    def __init__(self, min_upper: int = 3):
        super().__init__()
        self.min_upper = min_upper

    def annotate(self, texts: list[str]) -> dict[str, list]:
        counts = [sum(c.isupper() for c in t) for t in texts]
        return {META: [{"shout.upper": str(n)} for n in counts], NOTES: [["shouting"] if n >= self.min_upper else []
                                                                        for n in counts]}  # fmt: skip


def test_a_new_annotator_runs_by_config_alone(models):
    """No LabelStage or LabelConfig edit: the config names the class (or its corpusforge.annotators entry point)."""
    config = LabelConfig(models=models, annotators={f"{__name__}:ShoutCount": {"min_upper": 2}}, pii={"redact": True})
    stage = LabelStage(config)
    rec = stage.apply(Record(id="s", text="HELLO there, mail me at a.b@example.com", source="t"))
    assert rec.meta["shout.upper"] == "5" and rec.meta["annotator.shout"] == "test-1"
    assert rec.meta["ledger_notes"].split(",") == ["shouting", "pii_redacted"]  # in the order the annotators ran
    assert "a.b@example.com" not in rec.text  # PII runs last: the others read the original text
    with pytest.raises(ConfigError, match="annotators.nope"):
        LabelConfig.parse({"models": models, "annotators": {"nope": {}}})
