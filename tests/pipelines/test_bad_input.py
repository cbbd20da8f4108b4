"""Bad inputs through the whole web job: every broken record ends kept, dropped or quarantined with a reason,
the job completes, every task's ledger balances and the good records beside the broken ones are kept.
Over 400 lines: one test per kind of broken input, all through the same web job and ledger checks.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpusforge.ledger import DROPPED, KEPT, QUARANTINED
from pipelines.engines import run_job
from pipelines.jobs.web import WebJobConfig
from pipelines.web import WarcConfig, WarcSource
from tests.pipelines import warc_factory as wf

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wet.gz", ".wat.gz", ".arc", ".arc.gz")  # not the LICENSE files
EXTRACT_TIMEOUT_S = 2.0
URL = "https://bad-input.example.org"

GRUSSE = "The shop owner greeted every visitor with a cheerful Grüße before the market opened."
CAFE = "The small café on the corner served coffee and fresh bread to the workers before their shift."
PDF_BODY = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< >>\n%%EOF\n"
PNG_BODY = wf.PNG_MAGIC + bytes(range(256)) * 8


def good(name: str, seed: int) -> wf.Page:
    return wf.Page(f"{URL}/{name}", wf.good_html(seed))


# ---- the corpus --------------------------------------------------------------------------------------------


def build_corpus(root: Path) -> dict[str, list[str]]:
    """Write one archive per family of bad input; return the good URLs of each file (all must be kept)."""
    root.mkdir()
    goods: dict[str, list[str]] = {}

    # a valid multi-record .warc.gz, cut in the middle of its last record
    pages = [good("trunc-1", 1), good("trunc-2", 2), good("trunc-cut", 3)]
    wf.write_bytes(root / "truncated.warc.gz", wf.truncated_warc(pages, name="truncated.warc.gz"))
    goods["truncated.warc.gz"] = [f"{URL}/trunc-1", f"{URL}/trunc-2"]

    # plain WARC: good records, then a record whose version line is garbage
    data, _ = wf.warc_bytes([good("version-1", 4), good("version-2", 5)], gzip=False, name="bad_version.warc")
    broken = wf.raw_warc_record(
        wf.http_block(wf.good_html(6)), url=f"{URL}/version-bad", version=b"WARX/9.9 garbage here"
    )
    wf.write_bytes(root / "bad_version.warc", data + broken)
    goods["bad_version.warc"] = [f"{URL}/version-1", f"{URL}/version-2"]

    # plain WARC: a good record, then a record whose header block is broken (Content-Length not a number)
    data, _ = wf.warc_bytes([good("header-1", 7)], gzip=False, name="bad_header.warc")
    broken = wf.raw_warc_record(
        wf.http_block(wf.good_html(8)),
        url=f"{URL}/header-bad",
        content_length="12ab",
        header_lines=[b"this line has no colon", b"\xff\xfe\x00binary junk"],
    )
    wf.write_bytes(root / "bad_header.warc", data + broken)
    goods["bad_header.warc"] = [f"{URL}/header-1"]

    # wrong declared charsets and invalid UTF-8 (WARC/1.1, gzip)
    invalid = wf.good_html(12).replace(b"river", b"riv\xffer", 2).replace(b"bridge", b"bri\xc3\x28dge", 1)
    invalid = invalid.replace(b"market", b"mar\x80\x81ket", 1)
    pages = [
        good("charset-good", 9),
        wf.Page(
            f"{URL}/utf8-labelled-latin1",
            wf.good_html(10, [GRUSSE], meta_charset=None),
            headers=(("Content-Type", "text/html; charset=iso-8859-1"),),
        ),
        wf.Page(
            f"{URL}/cp1252-labelled-utf8",
            wf.good_html(11, [CAFE], encoding="cp1252", meta_charset=None),
            headers=(("Content-Type", "text/html; charset=utf-8"),),
        ),
        wf.Page(f"{URL}/invalid-utf8", invalid),
    ]
    wf.write_warc(root / "charsets.warc.gz", pages, version="1.1")
    goods["charsets.warc.gz"] = [f"{URL}/charset-good"]

    # limits: a 50 MB page, binary bytes labelled HTML, an empty body (plain WARC/1.0)
    huge = wf.Repeated(b"<p>" + wf.SENTENCES[0].encode() + b"</p>\n", 50 * 1024 * 1024, b"<html><body>\n")
    pages = [
        good("limits-good", 13),
        wf.Page(f"{URL}/huge", huge),
        wf.Page(f"{URL}/binary", PNG_BODY),
        wf.Page(f"{URL}/empty", b""),
        good("limits-good-after", 14),
    ]
    wf.write_warc(root / "limits.warc", pages)
    goods["limits.warc"] = [f"{URL}/limits-good", f"{URL}/limits-good-after"]

    # HTML nested 100,000 deep
    deep = b"<html><body>" + b"<div>" * 100_000 + b"deeply nested words" + b"</div>" * 100_000 + b"</body></html>"
    wf.write_warc(root / "deep.warc.gz", [good("deep-good", 15), wf.Page(f"{URL}/deep", deep)])
    goods["deep.warc.gz"] = [f"{URL}/deep-good"]

    # record types and HTTP outcomes
    pages = [
        good("types-good", 16),
        wf.Page(f"{URL}/doc.pdf", PDF_BODY, headers=(("Content-Type", "application/pdf"),)),
        wf.Page(f"{URL}/revisited", b"", kind="revisit"),
        wf.Page(f"{URL}/missing", wf.good_html(17), status="404 Not Found"),
        wf.Page(f"{URL}/image.png", PNG_BODY, headers=(("Content-Type", "image/png"),)),
        wf.Page(
            f"{URL}/requested",
            b"",
            headers=(("Host", "bad-input.example.org"),),
            status="GET /requested HTTP/1.1",
            kind="request",
        ),
    ]
    wf.write_warc(root / "types.warc.gz", pages)
    goods["types.warc.gz"] = [f"{URL}/types-good"]

    # an ARC v1 file and a WET file
    arc = [
        good("arc-1", 18),
        good("arc-2", 19),
        wf.Page(f"{URL}/arc-missing", wf.good_html(20), status="404 Not Found"),
    ]
    wf.write_bytes(root / "legacy.arc", wf.arc_file(arc, "legacy.arc"))
    goods["legacy.arc"] = [f"{URL}/arc-1", f"{URL}/arc-2"]
    wet = wf.wet_pages([(f"{URL}/wet-1", wf.prose_text(21)), (f"{URL}/wet-2", wf.prose_text(22))])
    wf.write_warc(root / "text.warc.wet.gz", wet)
    goods["text.warc.wet.gz"] = [f"{URL}/wet-1", f"{URL}/wet-2"]
    return goods


# ---- running the job and reading its outputs --------------------------------------------------------------


class Run:
    """A finished job: its result, files per task, kept rows, audit rows and side outputs."""

    def __init__(self, config: dict, seconds_limit: float | None = None):
        self.job = WebJobConfig.parse(config)
        self.output = Path(self.job.output)
        self.files = [Path(f).name for f in self.job.input_files()]
        start = time.monotonic()
        self.result = run_job(self.job)
        self.seconds = time.monotonic() - start
        self.documents = _rows(self.output / "documents")
        self.audit = _rows(self.output / "audit")
        self.pdfs = _rows(self.output / "pdfs")
        self.ledgers = {
            int(p.stem.split("-")[1]): json.loads(p.read_text())
            for p in sorted((self.output / "ledger").glob("*.json"))
        }

    def task(self, filename: str) -> int:
        return self.files.index(filename)

    def outcome(self, url: str) -> tuple[str, str | None, dict]:
        """(status, reason, row) of the one outcome recorded for ``url``."""
        kept = [r for r in self.documents if r["url"] == url]
        audited = [r for r in self.audit if r["url"] == url]
        assert len(kept) + len(audited) == 1, f"{url}: kept {len(kept)} times, audited {audited}"
        if kept:
            return KEPT, None, kept[0]
        return audited[0]["status"], audited[0]["reason"], audited[0]

    def quarantined(self, filename: str) -> list[dict]:
        task = self.task(filename)
        return [r for r in self.audit if r["task"] == task and r["status"] == QUARANTINED]


def _rows(folder: Path) -> list[dict]:
    rows: list[dict] = []
    for part in sorted(folder.glob("part-*.parquet")):
        for row in pq.read_table(part).to_pylist():
            row["_task"] = int(part.stem.split("-")[1])
            rows.append(row)
    return rows


def assert_balanced(run: Run) -> None:
    """Every task left a ledger that balances and agrees with its rows; the funnel is their sum."""
    assert sorted(run.ledgers) == list(range(len(run.files)))
    for task, summary in run.ledgers.items():
        led = summary["ledger"]
        dropped, quarantined = sum(led["dropped"].values()), sum(led["quarantined"].values())
        assert led["inputs"] == led["kept"] + dropped + quarantined, (run.files[task], led)
        assert led["kept"] == sum(r["_task"] == task for r in run.documents), run.files[task]
        audit = [r for r in run.audit if r["_task"] == task]
        assert Counter(r["reason"] for r in audit if r["status"] == DROPPED) == Counter(led["dropped"])
        assert Counter(r["reason"] for r in audit if r["status"] == QUARANTINED) == Counter(led["quarantined"])
        assert (run.output / "_completions" / f"{task:05d}").exists()
    total = run.result.ledger
    assert total.inputs == sum(s["ledger"]["inputs"] for s in run.ledgers.values())
    assert total.inputs == total.kept + total.dropped_total + total.quarantined_total
    assert json.loads((run.output / "funnel.json").read_text())["ledger"] == total.to_dict()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("bad_input") / "inputs"
    return root, build_corpus(root)


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory) -> Run:
    root, _ = corpus
    out = tmp_path_factory.mktemp("bad_output") / "out"
    return Run(
        {
            "inputs": [str(root)],
            "output": str(out),
            "engine": {"kind": "local", "workers": 1},
            "extract": {"timeout_s": EXTRACT_TIMEOUT_S},
        }
    )


# ---- the job as a whole -----------------------------------------------------------------------------------


def test_job_completes_with_balanced_ledgers(run):
    assert run.result.tasks_run == len(run.files) == 9
    assert_balanced(run)
    assert not list(run.output.rglob(".tmp-*"))


def test_good_records_beside_bad_ones_are_kept(run, corpus):
    _, goods = corpus
    for filename, urls in goods.items():
        for url in urls:
            status, reason, row = run.outcome(url)
            assert (status, reason) == (KEPT, None), f"{filename}: {url}"
            assert row["_task"] == run.task(filename)
            assert row["lang"] == "en" and row["meta"]


def test_every_drop_and_quarantine_names_a_reason(run):
    for row in run.audit:
        assert row["reason"], row
        assert row["stage"], row
        if row["status"] == QUARANTINED:
            assert row["detail"], row


# ---- each bad input ---------------------------------------------------------------------------------------


def test_truncated_gzip_quarantines_the_cut_record(run):
    quarantined = run.quarantined("truncated.warc.gz")
    assert len(quarantined) == 1, quarantined
    assert quarantined[0]["url"] in (None, f"{URL}/trunc-cut")
    assert "truncated.warc.gz" in quarantined[0]["detail"]
    assert not [r for r in run.documents if r["url"] == f"{URL}/trunc-cut"], "half a record was kept"
    assert run.ledgers[run.task("truncated.warc.gz")]["ledger"]["kept"] == 2


def test_garbage_version_line_is_quarantined(run):
    (row,) = run.quarantined("bad_version.warc")
    assert row["reason"] == "ArchiveLoadFailed"
    assert "bad_version.warc at byte" in row["detail"] and "WARX/9.9" in row["detail"]
    assert not [r for r in run.documents if r["url"] == f"{URL}/version-bad"]


def test_broken_header_block_is_quarantined(run):
    quarantined = run.quarantined("bad_header.warc")
    assert quarantined and all(r["reason"] and "bad_header.warc" in r["detail"] for r in quarantined)
    assert not [r for r in run.documents if r["url"] == f"{URL}/header-bad"]


@pytest.mark.parametrize(
    ("path", "word", "charset"),
    [("utf8-labelled-latin1", "Grüße", "utf-8"), ("cp1252-labelled-utf8", "café", None)],
)
def test_wrong_declared_charset_decodes_correctly(run, path, word, charset):
    status, reason, row = run.outcome(f"{URL}/{path}")
    assert (status, reason) == (KEPT, None)
    assert word in row["text"]
    assert "Ã" not in row["text"] and "\ufffd" not in row["text"]  # no mojibake, no replacement characters
    if charset:
        assert dict(row["meta"])["charset"] == charset


def test_invalid_utf8_bytes_do_not_crash(run):
    status, reason, row = run.outcome(f"{URL}/invalid-utf8")
    assert status in (KEPT, DROPPED), row
    if status == KEPT:
        assert "valley" in row["text"] or "town" in row["text"]
    else:
        assert reason


def test_oversized_page_is_dropped_too_large(run):
    status, reason, row = run.outcome(f"{URL}/huge")
    assert (status, reason) == (DROPPED, "too_large")
    assert row["stage"] == "read"


def test_binary_labelled_html_is_dropped(run):
    assert run.outcome(f"{URL}/binary")[:2] == (DROPPED, "binary_content")


def test_empty_body_is_dropped(run):
    assert run.outcome(f"{URL}/empty")[:2] == (DROPPED, "empty_body")


def test_deeply_nested_html_ends_with_a_reason_in_bounded_time(run):
    status, reason, row = run.outcome(f"{URL}/deep")
    assert status in (DROPPED, QUARANTINED) and reason, row
    # the whole job, start-up and the 50 MB record included, is far below one extraction timeout per task
    assert run.seconds < 30, f"the job took {run.seconds:.1f}s"


def test_pdf_is_routed_with_its_bytes(run):
    status, reason, row = run.outcome(f"{URL}/doc.pdf")
    assert (status, reason) == (DROPPED, "pdf_routed")
    (pdf,) = [r for r in run.pdfs if r["url"] == f"{URL}/doc.pdf"]
    assert pdf["content"] == PDF_BODY
    assert pdf["id"] == row["id"]
    assert dict(pdf["meta"])["content_type"] == "application/pdf"
    assert [p.name for p in (run.output / "pdfs").iterdir()] == [f"part-{run.task('types.warc.gz'):05d}.parquet"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("revisited", "revisit"),
        ("missing", "http_404"),
        ("image.png", "not_html"),
        ("requested", "warc_request"),
        ("arc-missing", "http_404"),
    ],
)
def test_record_types_and_statuses_are_dropped_with_their_reason(run, path, reason):
    status, got, row = run.outcome(f"{URL}/{path}")
    assert (status, got) == (DROPPED, reason)
    assert row["stage"] == "read"


def test_warcinfo_records_are_counted_as_dropped(run):
    for filename in ("types.warc.gz", "limits.warc", "charsets.warc.gz", "legacy.arc"):
        assert run.ledgers[run.task(filename)]["ledger"]["dropped"].get("warc_warcinfo") == 1, filename


def test_wet_text_is_kept_without_extraction(run):
    for n, seed in ((1, 21), (2, 22)):
        status, _, row = run.outcome(f"{URL}/wet-{n}")
        assert status == KEPT
        meta = dict(row["meta"])
        assert meta["format"] == "text" and "extractor" not in meta
        assert row["text"].splitlines() == wf.prose(seed)


def test_arc_file_is_read(run):
    led = run.ledgers[run.task("legacy.arc")]["ledger"]
    assert led == {**led, "inputs": 4, "kept": 2, "quarantined": {}}
    status, _, row = run.outcome(f"{URL}/arc-1")
    assert status == KEPT and dict(row["meta"])["warc_file"] == "legacy.arc"
    assert "The " in row["text"]


def test_gzipped_arc_file_is_read(tmp_path):
    path = wf.write_bytes(tmp_path / "legacy.arc.gz", wf.arc_file([good("arcgz-1", 23)], "legacy.arc.gz", gzip=True))
    outcomes = list(WarcSource(WarcConfig()).read(str(path)))
    assert [(o.record.url, o.status, o.reason) for o in outcomes][1:] == [(f"{URL}/arcgz-1", KEPT, None)]


def test_arc_record_ids_are_stable_across_reads(tmp_path):
    """Ids are derived from where a record came from, so a rerun (or another engine) gives the same ones;
    ARC records carry no WARC-Record-ID, and warcio invents a random one when it converts them."""
    path = wf.write_bytes(tmp_path / "legacy.arc", wf.arc_file([good("arc-1", 18), good("arc-2", 19)]))
    source = WarcSource(WarcConfig())
    first = [o.record.id for o in source.read(str(path))]
    second = [o.record.id for o in source.read(str(path))]
    assert first == second
    assert len(set(first)) == len(first)


def test_a_text_file_is_not_read_as_an_archive(tmp_path):
    """A file that is no archive at all, read as one (named in a job's inputs), is quarantined; its lines must not
    become phantom records dropped as empty or not HTML. In an input folder such a file is skipped instead
    (test_non_archive_files_in_an_input_folder_are_skipped_with_a_note)."""
    path = wf.write_bytes(tmp_path / "LICENSE", wf.prose_text(24).encode())
    outcomes = list(WarcSource(WarcConfig()).read(str(path)))
    assert [o.status for o in outcomes] == [QUARANTINED], [(o.status, o.reason) for o in outcomes][:5]
    assert "LICENSE" in outcomes[0].detail


def test_factory_writes_the_same_bytes_every_time(tmp_path):
    pages = [good("same-1", 1), wf.Page(f"{URL}/same.png", PNG_BODY, headers=(("Content-Type", "image/png"),))]
    for version in ("1.0", "1.1"):
        for gzip in (True, False):
            a = wf.write_warc(tmp_path / "a.warc", pages, gzip=gzip, version=version).read_bytes()
            b = wf.write_warc(tmp_path / "a.warc", pages, gzip=gzip, version=version).read_bytes()
            assert a == b
            assert a.startswith(b"\x1f\x8b") == gzip
            if not gzip:
                assert a.startswith(f"WARC/{version}\r\n".encode())


# ---- real archives --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(shared_data, tmp_path_factory) -> Run:
    folder = shared_data / "warc"
    if not folder.is_dir():
        pytest.skip(f"needs the real WARC samples in {folder} (absent on this machine)")
    inputs = sorted(str(p) for p in folder.iterdir() if p.name.endswith(ARCHIVE_SUFFIXES))
    assert len(inputs) >= 9 and any(p.endswith(".wet.gz") for p in inputs), inputs
    out = tmp_path_factory.mktemp("real_output") / "out"
    return Run({"inputs": inputs, "output": str(out), "engine": {"kind": "local", "workers": 1}})


@pytest.mark.shared_data
def test_real_archives_read_without_quarantine(real_run):
    assert_balanced(real_run)
    problems = {
        real_run.files[task]: s["ledger"]["quarantined"]
        for task, s in real_run.ledgers.items()
        if s["ledger"]["quarantined"]
    }
    assert not problems, problems
    assert real_run.result.ledger.kept > 0
    for task, summary in real_run.ledgers.items():
        assert summary["ledger"]["inputs"] > 0, real_run.files[task]


# ---- a record cut at the end of an archive, whatever it holds ---------------------------------------------

CUT_PAGES = {
    "html": good("cut-html", 30),
    "png": wf.Page(f"{URL}/cut.png", PNG_BODY, headers=(("Content-Type", "image/png"),)),
    "pdf": wf.Page(f"{URL}/cut.pdf", PDF_BODY * 40, headers=(("Content-Type", "application/pdf"),)),
    "404": wf.Page(f"{URL}/cut-missing", wf.good_html(31), status="404 Not Found"),
    "request": wf.Page(f"{URL}/cut-request", b"", headers=(("Host", "x"),), status="GET / HTTP/1.1", kind="request"),
    "revisit": wf.Page(f"{URL}/cut-revisit", b"", kind="revisit"),
}


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.2, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("kind", CUT_PAGES)
def test_a_record_cut_at_the_end_of_an_archive_is_quarantined(tmp_path, kind, gzip, fraction):
    """Cut anywhere (in its WARC headers, its HTTP headers or its body, or a gzip member cut short), the last
    record is counted as quarantined, not lost and not filed under its content type's drop reason."""
    pages = [good("cut-before", 32), CUT_PAGES[kind]]
    name = "cut.warc.gz" if gzip else "cut.warc"
    path = wf.write_bytes(tmp_path / name, wf.truncated_warc(pages, gzip=gzip, name=name, fraction=fraction))
    outcomes = list(WarcSource(WarcConfig()).read(str(path)))
    whole = list(WarcSource(WarcConfig()).read(str(wf.write_warc(tmp_path / f"whole-{name}", pages, gzip=gzip))))
    assert len(outcomes) == len(whole) == 3, [(o.status, o.reason) for o in outcomes]  # warcinfo, good, cut
    assert outcomes[1].status == KEPT and outcomes[1].record.url == f"{URL}/cut-before"
    assert outcomes[-1].status == QUARANTINED, (outcomes[-1].reason, outcomes[-1].detail)
    assert name in outcomes[-1].detail


# ---- files of an input folder that are no archive ---------------------------------------------------------


def test_non_archive_files_in_an_input_folder_are_skipped_with_a_note(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    wf.write_warc(folder / "pages.warc.gz", [good("folder-1", 40), good("folder-2", 41)])
    wf.write_warc(folder / "no_suffix", [good("folder-3", 42)])  # an archive by its content, not its name
    (folder / "LICENSE.example.Apache-2.0").write_text(wf.prose_text(3))
    (folder / "README.md").write_text("# where these archives come from\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.warc.gz").write_bytes(b"named as an archive, so read, and quarantined")
    job = WebJobConfig.parse({"inputs": [str(folder)], "output": str(tmp_path / "out"), "engine": {"workers": 1}})
    assert [Path(f).name for f in job.input_files()] == ["broken.warc.gz", "no_suffix", "pages.warc.gz"]
    result = run_job(job)
    assert result.ledger.notes["skipped_not_archive"] == 3
    assert result.ledger.kept == 3 and dict(result.ledger.quarantined) == {"InputError": 1}
    funnel = json.loads((tmp_path / "out" / "funnel.json").read_text())
    assert funnel["ledger"]["notes"]["skipped_not_archive"] == 3
    assert sorted(Path(p).name for p in funnel["skipped_inputs"]) == ["LICENSE.example.Apache-2.0", "README.md", "empty.txt"]
    # named in the inputs, the same licence file is read and quarantined as the broken archive it claims to be
    named = WebJobConfig.parse({"inputs": [str(folder / "README.md")], "output": str(tmp_path / "o2")})
    assert named.input_files() == [str(folder / "README.md")]


def test_the_bundled_samples_folder_reads_without_quarantine(tmp_path):
    """samples/warc as one input folder: its licence files are skipped with a note, every archive is read."""
    folder = Path(__file__).resolve().parents[2] / "samples" / "warc"
    job = WebJobConfig.parse(
        {"inputs": [str(folder)], "output": str(tmp_path / "out"), "engine": {"workers": 1}, "langid": {"enabled": False}}
    )
    files = [Path(f).name for f in job.input_files()]
    assert len(files) == 8 and not [f for f in files if f.startswith("LICENSE")]
    result = run_job(job)
    assert result.ledger.notes["skipped_not_archive"] == len(list(folder.glob("LICENSE.*")))
    assert result.ledger.quarantined_total == 0 and result.ledger.kept > 0
