"""``kind: synth``: seeds in, verified synthetic documents out, on any engine.

One task per seed file: record Parquet (a previous job's documents/, multilingual as they are), ``.jsonl``
(objects with ``text``, optional ``id`` and ``lang``) or ``.txt`` (one topic a line). The source generates
candidates for every enabled generator in batches through the request cache; each candidate is one input
of the ledger (``generated``), so ``kept`` is what was admitted and every rejection is a named drop.
Then the verifier stages (pipelines/synth_stages.py) and decontamination run (per task, a sample that copies
its own seeds is dropped by 8-gram containment: copies_seed). Last, a global step: the kept documents
(``source = synthetic/<kind>``) are deduplicated, exact (normalised-text hash) and fuzzy (MinHash-LSH), against
each other across all tasks and against the whole seed corpus, by the dedup job (its engine-specific decision,
into OUTPUT/dedup) with the seeds as its ``reference``: drops ``dup_exact_synth``, ``dup_fuzzy_synth``,
``dup_exact_seed``, ``dup_fuzzy_seed``. ``synth_report.json`` gives per generator: generated, admitted (after
dedup), rejected by reason, tokens and tokens/s.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Literal

import pyarrow.parquet as pq
import xxhash
from pydantic import Field, field_validator

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.fs import atomic_open, exists, expand, filesystem, join, open_input, write_text
from corpusforge.job import JobResult
from corpusforge.ledger import DROPPED
from corpusforge.parquet import check_record_parquet, read_batches
from corpusforge.record import Record, from_table, record_id, to_table
from pipelines.decontam import DecontamConfig, DecontamStage
from pipelines.dedup.config import DedupConfig, UrlDedupConfig
from pipelines.jobs.base import JobConfig
from pipelines.jobs.dedup import DedupJobConfig
from pipelines.stage import Outcome, Stage
from pipelines.synth_stages import (
    CodeVerifyStage,
    MathCheckConfig,
    MathVerifyStage,
    SeedOverlapFilter,
    TextVerifyStage,
)
from synth.cache import CachedLLM, RequestCache, Usage
from synth.decontam import ngram_hashes
from synth.generators import GENERATORS, Candidate, Generator, MathGenerator, Seed, Unparseable
from synth.llm import LLMConfig, build_llm
from synth.templates import load_template
from synth.verify.math import answers_equivalent, extract_answer
from synth.verify.sandbox import SandboxConfig
from synth.verify.text import TextVerifyConfig

SEED_SUFFIXES = (".parquet", ".jsonl", ".txt")
OVERLAP_N = 8
#: the dedup job's reasons as the synth ledger names them: a copy of another sample, or of a seed document
DEDUP_REASONS = {
    "duplicate_exact": "dup_exact_synth",
    "duplicate_fuzzy": "dup_fuzzy_synth",
    "duplicate_exact_reference": "dup_exact_seed",
    "duplicate_fuzzy_reference": "dup_fuzzy_seed",
}
Kind = Literal["textbook", "qa", "instruction", "math", "code"]


class GeneratorConfig(Config):
    kind: Kind
    samples_per_seed: int = Field(1, ge=1)
    template: str | None = Field(None, description="A bundled template name or a YAML path; None: the kind's own.")
    max_new_tokens: int | None = Field(None, ge=1, description="None: the template's.")

    def build(self, seed_chars: int) -> Generator:
        return GENERATORS[self.kind](load_template(self.template or self.kind), seed_chars)


class SynthJobConfig(JobConfig):
    """Seeds (documents or topics) → generated, verified, decontaminated, deduplicated synthetic documents."""

    kind: Literal["synth"] = "synth"
    name: str = "synth"
    generators: list[GeneratorConfig] = Field(
        default_factory=lambda: [GeneratorConfig(kind=k) for k in GENERATORS], min_length=1
    )
    llm: LLMConfig = LLMConfig(max_new_tokens=256, batch_size=8)
    cache: str | None = Field(None, description="SQLite request cache; None: OUTPUT/_cache/requests.sqlite; '': none.")
    request_batch: int = Field(16, ge=1, description="Requests handed to the backend at once.")
    seed_chars: int = Field(1500, ge=100, description="Characters of a seed document put in the prompt.")
    max_seeds: int | None = Field(None, ge=1, description="Seeds read per input file (None: all).")
    topic_lang: str | None = Field("en", description="Language of .txt topic seeds (None: not judged).")
    text: TextVerifyConfig = TextVerifyConfig()
    math: MathCheckConfig = MathCheckConfig()
    sandbox: SandboxConfig = SandboxConfig(timeout_s=10)
    max_seed_overlap: float = Field(0.5, ge=0, le=1, description="Share of a sample's 8-grams found in its seeds.")
    decontam: DecontamConfig | None = DecontamConfig()
    dedup: DedupConfig | None = Field(
        DedupConfig(url=UrlDedupConfig(enabled=False)), description="Exact + fuzzy dedup of the output; null: none."
    )
    dedup_seeds: bool = Field(True, description="Deduplicate against the whole seed corpus too, not only samples.")

    @field_validator("generators")
    @classmethod
    def _templates(cls, value: list[GeneratorConfig]) -> list[GeneratorConfig]:
        for i, g in enumerate(value):  # a missing or broken template fails before any work
            try:
                load_template(g.template or g.kind)
            except ConfigError as exc:
                raise ValueError(f"generators.{i}.template: {exc}") from None
        return value

    def input_files(self) -> list[str]:
        files = expand(self.inputs)
        if not files:
            raise ConfigError("inputs", f"no file matches {self.inputs}")
        for path in files:
            if not path.endswith(SEED_SUFFIXES):
                raise ConfigError("inputs", f"{path}: seeds are {', '.join(SEED_SUFFIXES)} files")
            if path.endswith(".parquet"):
                check_record_parquet(path)
        if self.decontam is not None:
            self.decontam.check()
        return files

    def cache_path(self) -> str | None:
        if self.cache == "":
            return None
        return self.cache or join(self.output, "_cache", "requests.sqlite")

    def build_source(self) -> SynthSource:
        return SynthSource(self)

    def build_stages(self) -> list[Stage]:
        stages: list[Stage] = [
            TextVerifyStage(self.text),
            MathVerifyStage(self.math),
            CodeVerifyStage(self.sandbox),
            SeedOverlapFilter(self.max_seed_overlap),
        ]
        if self.decontam is not None and self.decontam.enabled:
            stages.append(DecontamStage(self.decontam))
        return stages

    def chained(self, files: list[str], result: JobResult) -> dict[str, DedupJobConfig]:
        if self.dedup is None or not self.dedup.enabled:  # even with nothing kept: OUTPUT/dedup/documents exists
            return {}
        return {"dedup": self.dedup_job(files)}

    def finish(self, files: list[str], result: JobResult) -> None:
        """After the dedup step: the report counts admission after it."""
        write_text(join(self.output, "synth_report.json"), json.dumps(synth_report(self.output), indent=2))

    def dedup_job(self, files: list[str]) -> DedupJobConfig:
        """The global dedup step: samples of every task against each other and against the seed corpus."""
        reference = self.seed_corpus(files) if self.dedup_seeds else []
        return DedupJobConfig.after(self, reference=reference, reasons=DEDUP_REASONS)

    def seed_corpus(self, files: list[str]) -> list[str]:
        """The seed files as record Parquet: Parquet seeds as they are (whole, not only the seeds used), the
        others written once to OUTPUT/_seeds/ so the dedup job reads them like any documents."""
        out = []
        for task, path in enumerate(files):
            if path.endswith(".parquet"):
                out.append(path)
                continue
            part = join(self.output, "_seeds", f"part-{task:05d}.parquet")
            if not exists(part):
                origin = "topic" if path.endswith(".txt") else "seed"
                records = [
                    Record(id=s.id, text=s.text, source=origin, lang=s.lang)
                    for s in read_seeds(path, self.topic_lang, None)
                ]
                with atomic_open(part, "wb") as f:
                    pq.write_table(to_table(records), f)
            out.append(part)
        return out


def read_seeds(path: str, topic_lang: str | None, limit: int | None) -> list[Seed]:
    """The seeds of one input file, in file order."""
    seeds: list[Seed] = []
    base = os.path.basename(path)
    if path.endswith(".parquet"):
        for batch in read_batches(path, batch_rows=256):
            seeds += [Seed(r.id, r.text, r.lang) for r in from_table(batch) if r.text.strip()]
            if limit and len(seeds) >= limit:
                break
    else:
        with open_input(path) as f:
            lines = f.read().decode("utf-8").splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            if path.endswith(".jsonl"):
                row = json.loads(line)
                seeds.append(Seed(str(row.get("id") or record_id("seed", f"{base}:{i}")), row["text"], row.get("lang")))
            else:
                seeds.append(Seed(record_id("topic", f"{base}:{i}"), line.strip(), topic_lang, origin="topic"))
    return seeds[:limit] if limit else seeds


class SynthSource:
    """Generates the candidates of one seed file; the model loads once per worker, on the first request."""

    name = "generate"

    def __init__(self, job: SynthJobConfig):
        self.job = job
        self.generators = [(g, g.build(job.seed_chars)) for g in job.generators]
        self._llm: CachedLLM | None = None

    def llm(self) -> CachedLLM:
        if self._llm is None:
            path = self.job.cache_path()
            cache = None
            if path:
                filesystem(path)[0].makedirs(os.path.dirname(path), exist_ok=True)
                cache = RequestCache(path)
            self._llm = CachedLLM(build_llm(self.job.llm), cache)
        return self._llm

    def read(self, path: str) -> Iterator[Outcome]:
        seeds = read_seeds(path, self.job.topic_lang, self.job.max_seeds)
        seed_grams = set()
        for seed in seeds:
            seed_grams.update(ngram_hashes(seed.text, OVERLAP_N).tolist())
        usage: dict[str, Usage] = {}
        for config, generator in self.generators:
            usage[generator.kind] = spent = Usage()
            candidates = [generator.candidate(s, k) for s in seeds for k in range(config.samples_per_seed)]
            limit = config.max_new_tokens or generator.template.max_new_tokens
            for i in range(0, len(candidates), self.job.request_batch):
                chunk = candidates[i : i + self.job.request_batch]
                completions = self.llm().generate([c.messages for c in chunk], limit, spent)
                parsed: list[Candidate] = []
                outcomes: list[Outcome] = []
                for candidate, completion in zip(chunk, completions, strict=True):
                    candidate.meta["completion_tokens"] = str(completion.completion_tokens)
                    try:
                        candidate.text = generator.parse(completion.text, candidate)
                        parsed.append(candidate)
                    except Unparseable as exc:
                        record = self.record(candidate, completion.text)
                        outcomes.append(Outcome(record, DROPPED, self.name, f"unparseable_{exc.reason}"))
                if isinstance(generator, MathGenerator):
                    self.resolve(generator, parsed, limit, spent)
                for candidate in parsed:
                    grams = ngram_hashes(candidate.text, OVERLAP_N)
                    overlap = sum(g in seed_grams for g in grams.tolist()) / grams.size if grams.size else 0.0
                    candidate.meta["seed_overlap"] = f"{overlap:.3f}"
                    outcomes.append(Outcome(self.record(candidate, candidate.text)))
                yield from sorted(outcomes, key=lambda o: o.record.id)
        name = xxhash.xxh64_hexdigest(path) + ".json"
        write_text(join(self.job.output, "_usage", name), json.dumps({k: u.to_dict() for k, u in usage.items()}))

    def resolve(self, generator: MathGenerator, parsed: list[Candidate], limit: int, spent: Usage) -> None:
        """Solve each generated problem again ``agree_samples`` times; meta gets the share that agrees."""
        n = self.job.math.agree_samples
        requests = [generator.solve_messages(c.meta["problem"]) for c in parsed for _ in range(n)]
        if not requests:
            return
        answers = self.llm().generate(requests, limit, spent, temperature=self.job.math.temperature)
        for j, candidate in enumerate(parsed):
            mine = [extract_answer(a.text) for a in answers[j * n : (j + 1) * n]]
            agree = sum(a is not None and answers_equivalent(a, candidate.meta["answer"]) for a in mine)
            candidate.meta["agreement"] = f"{agree / n:.3f}"
            candidate.meta["resolved_answers"] = json.dumps(mine)

    def record(self, candidate: Candidate, text: str) -> Record:
        meta = dict(candidate.meta)
        meta["model"] = self.job.llm.model or "SmolLM2-135M-Instruct"
        return Record(
            id=candidate.id, text=text, source=f"synthetic/{candidate.kind}", lang=candidate.seed.lang, meta=meta
        )


def synth_report(output: str) -> dict:
    """Per generator: generated, admitted, rejected by reason (from documents/ and audit/, then the dedup step's
    audit: a sample it dropped moves from admitted to its dup_* reason), and token usage."""
    fs, root = filesystem(output)
    root = root.rstrip("/")
    report: dict[str, dict] = {}

    def entry(source: str | None) -> dict:
        kind = (source or "unknown").split("/", 1)[-1]
        return report.setdefault(kind, {"generated": 0, "admitted": 0, "rejected": Counter()})

    def parts(folder: str) -> list[str]:
        return sorted(fs.glob(f"{root}/{folder}/*.parquet"))

    for part in parts("documents"):
        with fs.open(part, "rb") as f:
            for source in pq.read_table(f, columns=["source"]).column("source").to_pylist():
                e = entry(source)
                e["generated"] += 1
                e["admitted"] += 1
    for folder, admitted in (("audit", False), ("dedup/audit", True)):
        for part in parts(folder):
            with fs.open(part, "rb") as f:
                table = pq.read_table(f, columns=["source", "reason"]).to_pylist()
            for row in table:
                e = entry(row["source"])
                if admitted:  # dropped by the dedup step: counted as generated and admitted before
                    e["admitted"] -= 1
                else:
                    e["generated"] += 1
                e["rejected"][row["reason"]] += 1
    totals: dict[str, Usage] = {}
    for part in sorted(fs.glob(root.rstrip("/") + "/_usage/*.json")):
        with fs.open(part, "r") as f:
            for kind, u in json.load(f).items():
                u.pop("tokens_per_s", None)
                totals.setdefault(kind, Usage()).add(Usage(**u))
    for kind, e in report.items():
        e["yield"] = e["admitted"] / e["generated"] if e["generated"] else 0.0
        e["rejected"] = dict(e["rejected"].most_common())
        e["usage"] = totals.get(kind, Usage()).to_dict()
    return dict(sorted(report.items()))
