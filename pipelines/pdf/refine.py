"""LLM cleanup of OCR/extracted PDF text, guarded so the model cannot rewrite or invent content.

First cheap deterministic fixes (words hyphenated across line breaks, lines broken mid-sentence); they are
kept whatever the LLM does. Then the text goes to an LLM in paragraph-aligned chunks; a chunk's output is
used only if it stays close to its input (character similarity >= ``min_similarity``) and is not much longer
(no invented content). A rejected chunk keeps its deterministic-fixed text and the result says why.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from corpusforge.config import Config
from corpusforge.ledger import add_note
from corpusforge.record import Record
from pipelines.pdf.stage import join_pages
from pipelines.stage import Stage
from synth.llm import LLM, LLMConfig, build_llm

try:  # much faster than difflib on long texts; part of the `ocr` extra
    from rapidfuzz import fuzz as _fuzz
except ImportError:  # pragma: no cover - depends on the environment
    _fuzz = None

REJECT_LOW_SIMILARITY = "refine_low_similarity"
REJECT_TOO_LONG = "refine_too_long"
REJECT_EMPTY = "refine_empty"

SYSTEM_PROMPT = (
    "You clean up text extracted from scanned documents by OCR. Fix only these problems: words hyphenated "
    "across line breaks, lines broken in the middle of a sentence, page headers, footers and page numbers "
    "repeated inside the text, and obvious character recognition errors (for example 'rn' read as 'm', "
    "'0' for 'O', stray symbols). Do not add, summarize, translate, explain or reorder anything; keep the "
    "wording, numbers, names, Markdown and language exactly as they are. Reply with the corrected text only, "
    "with no introduction and no comments."
)


class RefineConfig(Config):
    enabled: bool = Field(False, description="Run the refine stage after conversion (deterministic fixes + LLM).")
    pages: Literal["ocr", "all"] = Field("ocr", description="Refine pages read by OCR only, or every page.")
    llm: LLMConfig = LLMConfig()
    #: an LLM output whose character similarity to its input is below this is rejected
    min_similarity: float = Field(0.8, ge=0, le=1)
    #: an LLM output longer than ``len(input) * (1 + max_growth) + 20`` characters is rejected
    max_growth: float = Field(0.1, ge=0)
    #: text is split at paragraph boundaries into chunks of at most this many characters per LLM call
    max_chars_per_call: int = Field(2000, ge=100)
    system_prompt: str = SYSTEM_PROMPT


@dataclass(slots=True)
class RefineResult:
    text: str
    #: True when every chunk's LLM output passed the guard
    accepted: bool
    #: the lowest character similarity of an LLM output to its input over the chunks (1.0: no chunks)
    similarity: float
    #: why the first rejected chunk was rejected (``refine_*``), None when accepted
    reason: str | None = None
    chunks: int = 0
    rejected_chunks: int = 0
    reasons: list[str] = field(default_factory=list)


def similarity(a: str, b: str) -> float:
    """Character-level similarity in [0, 1] (rapidfuzz's normalized Indel ratio, or difflib's ratio)."""
    if not a and not b:
        return 1.0
    if _fuzz is not None:
        return _fuzz.ratio(a, b) / 100.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


# ---- deterministic fixes ------------------------------------------------------------------------------------

_HYPHEN_BREAK = re.compile(r"([^\W\d_])-[ \t]*\n[ \t]*([^\W\d_])")
_STRUCTURAL = re.compile(r"^\s*(#|\||[-*+•]\s|\d{1,3}[.)]\s|>|```|<!--|!\[)")
_SENTENCE_END = re.compile(r"""[.!?:;。！？"'”’)\]]\s*$""")


def _structural(line: str) -> bool:
    return bool(_STRUCTURAL.match(line))


def dehyphenate(text: str) -> str:
    """``recog-\\nnition`` → ``recognition`` (only when the continuation starts in lower case)."""
    return _HYPHEN_BREAK.sub(lambda m: m[1] + m[2] if m[2].islower() else m[0], text)


def join_broken_lines(text: str) -> str:
    """Join a line to the next when it ends mid-sentence and the next starts in lower case.

    Markdown structure (headings, tables, list items, quotes, code fences) and blank lines are left alone.
    """
    lines = text.split("\n")
    out: list[str] = []
    in_code = False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
            out.append(line)
            continue
        if (
            out
            and not in_code
            and line.strip()
            and out[-1].strip()
            and line.lstrip()[:1].islower()
            and not _structural(line)
            and not out[-1].lstrip().startswith(("#", "|", "```"))
            and not _SENTENCE_END.search(out[-1])
        ):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def deterministic_fixes(text: str) -> str:
    return join_broken_lines(dehyphenate(text))


# ---- chunking and the guard ---------------------------------------------------------------------------------


def split_chunks(text: str, max_chars: int) -> list[str]:
    """Split at blank lines into chunks of at most ``max_chars``; ``"\\n\\n".join(chunks) == text``.

    A paragraph longer than ``max_chars`` is split at line breaks, then hard-cut as a last resort (such pieces
    are joined back with blank lines, the only change chunking can make).
    """
    pieces: list[str] = []
    for para in text.split("\n\n"):
        if len(para) <= max_chars:
            pieces.append(para)
            continue
        current = ""
        for line in para.split("\n"):
            while len(line) > max_chars:
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(line[:max_chars])
                line = line[max_chars:]
            if current and len(current) + 1 + len(line) > max_chars:
                pieces.append(current)
                current = line
            else:
                current = f"{current}\n{line}" if current else line
        pieces.append(current)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 2 + len(piece) <= max_chars:
            chunks[-1] += "\n\n" + piece
        else:
            chunks.append(piece)
    return chunks


_FENCE = re.compile(r"^\s*```[\w-]*\n(.*?)\n```\s*$", re.S)
_PREAMBLE = re.compile(r"^\s*(here is|here's|the corrected|corrected text|sure)[^\n]*:\s*\n+", re.I)


_LABEL_LINE = re.compile(r"^\s*(corrected text|text)\s*:\s*$", re.I | re.M)


def clean_output(candidate: str, source: str | None = None) -> str:
    """Strip what chat models wrap around an answer: a code fence, a 'Here is the corrected text:' line.

    Small models often answer correctly and then start repeating themselves: the output is cut at the first
    paragraph that repeats an earlier one more often than ``source`` does. The guard still judges the rest.
    """
    candidate = _PREAMBLE.sub("", candidate, count=1)
    match = _FENCE.match(candidate)
    if match:
        candidate = match.group(1)
    candidate = _LABEL_LINE.sub("", candidate)
    kept: list[str] = []
    for para in re.split(r"\n\s*\n", candidate.strip()):
        para = para.strip()
        if not para:
            continue
        if para in kept and kept.count(para) >= (source or "").count(para):
            break
        kept.append(para)
    return "\n\n".join(kept)


def guard(source: str, candidate: str, min_similarity: float, max_growth: float) -> tuple[bool, float, str | None]:
    """Judge an LLM output against its input: ``(accepted, similarity, reason)``."""
    if not candidate.strip():
        if not source.strip():
            return True, 1.0, None
        return False, 0.0, REJECT_EMPTY
    sim = similarity(source, candidate)
    if len(candidate) > len(source) * (1 + max_growth) + 20:
        return False, sim, REJECT_TOO_LONG
    if sim < min_similarity:
        return False, sim, REJECT_LOW_SIMILARITY
    return True, sim, None


class Refiner:
    """Deterministic fixes, then guarded LLM refinement. The LLM is built lazily (or passed in)."""

    def __init__(self, config: RefineConfig | None = None, llm: LLM | None = None):
        self.config = config or RefineConfig()
        self._llm = llm

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            self._llm = build_llm(self.config.llm)
        return self._llm

    def messages(self, chunk: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.config.system_prompt},
            {"role": "user", "content": chunk},
        ]

    def refine(self, text: str) -> RefineResult:
        return self.refine_batch([text])[0]

    def refine_batch(self, texts: list[str]) -> list[RefineResult]:
        """Refine many texts; all their chunks go to the LLM as one batch."""
        fixed = [deterministic_fixes(t) for t in texts]
        chunked = [split_chunks(t, self.config.max_chars_per_call) if t.strip() else [] for t in fixed]
        todo = [(i, j) for i, chunks in enumerate(chunked) for j, c in enumerate(chunks) if c.strip()]
        outputs: dict[tuple[int, int], str] = {}
        if self.config.enabled and todo:
            # a generous token budget: the answer should be about as long as the chunk
            budget = min(self.config.llm.max_new_tokens, max(len(chunked[i][j]) for i, j in todo) // 2 + 64)
            answers = self.llm.chat([self.messages(chunked[i][j]) for i, j in todo], max_new_tokens=budget)
            outputs = dict(zip(todo, answers, strict=True))
        results = []
        for i, chunks in enumerate(chunked):
            parts, sims, reasons = [], [], []
            for j, chunk in enumerate(chunks):
                if (i, j) not in outputs:
                    parts.append(chunk)
                    continue
                candidate = clean_output(outputs[(i, j)], chunk)
                ok, sim, reason = guard(chunk, candidate, self.config.min_similarity, self.config.max_growth)
                sims.append(sim)
                if ok:
                    parts.append(candidate)
                else:
                    parts.append(chunk)
                    reasons.append(reason or "refine_rejected")
            text = "\n\n".join(parts) if chunks else fixed[i]
            results.append(
                RefineResult(
                    text=text,
                    accepted=not reasons,
                    similarity=min(sims) if sims else 1.0,
                    reason=reasons[0] if reasons else None,
                    chunks=len(sims),
                    rejected_chunks=len(reasons),
                    reasons=reasons,
                )
            )
        return results


class RefineStage(Stage):
    """Refines a converted PDF page by page, keeping page offsets true; counts each rejection in the ledger.

    Records without PDF page meta (any other source) are refined as one page.
    """

    name = "refine"

    def __init__(self, config: RefineConfig, llm: LLM | None = None):
        super().__init__()
        self.config = config
        self.refiner = Refiner(config, llm)

    def setup(self) -> None:
        if self.config.enabled:
            _ = self.refiner.llm  # load the model once per worker, before the first record

    def apply(self, record: Record) -> Record:
        meta = record.meta
        if "pdf_page_offsets" in meta:
            pages = [record.text[a:b] for a, b in json.loads(meta["pdf_page_offsets"])]
            methods = [p.get("method") for p in json.loads(meta.get("pdf_pages", "[]"))]
        else:
            pages, methods = [record.text], ["ocr"]
        chosen = [i for i, m in enumerate(methods) if self.config.pages == "all" or m == "ocr"]
        if not chosen:
            return record
        results = self.refiner.refine_batch([pages[i] for i in chosen])
        for i, result in zip(chosen, results, strict=True):
            pages[i] = result.text
        if "pdf_page_offsets" in meta:
            record.text, meta["pdf_page_offsets"] = join_pages(pages)
        else:
            record.text = pages[0]
        llm_chunks = sum(r.chunks for r in results)
        rejected = [reason for r in results for reason in r.reasons]
        meta["refine"] = json.dumps(
            {
                "pages": len(chosen),
                "llm_chunks": llm_chunks,
                "rejected_chunks": len(rejected),
                "min_similarity": round(min(r.similarity for r in results), 4),
                "model": (self.config.llm.model or "default") if self.config.enabled else None,
            }
        )
        add_note(meta, *rejected)
        if llm_chunks > len(rejected):
            add_note(meta, *["refine_accepted"] * (llm_chunks - len(rejected)))
        return record
