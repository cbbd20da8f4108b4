"""The synth job's verifier stages: a generated sample is admitted only when every check passes.

Each drop names its reason (the ledger counts them; `synth_report.json` splits them per generator):
text (too_short, too_long, refusal, repetitive, duplicate_lines, language_mismatch), math
(math_no_answer, math_disagreement), code (code_<verdict>: failed, timeout, memory, output_limit, killed),
copies of the seed corpus (copies_seed), and decontamination (contaminated_<benchmark>).
"""

from __future__ import annotations

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import Drop
from corpusforge.record import Record
from pipelines.stage import Filter, Stage
from synth.generators import Unparseable, code_of
from synth.verify.sandbox import Sandbox, SandboxConfig
from synth.verify.text import TextVerifier, TextVerifyConfig


class MathCheckConfig(Config):
    agree_samples: int = Field(2, ge=1, description="Times each generated problem is solved again.")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature of the re-solves.")
    min_agreement: float = Field(
        0.5, gt=0, le=1, description="Share of re-solves whose answer must equal the sample's own final answer."
    )


class TextVerifyStage(Filter):
    name = "verify_text"

    def __init__(self, config: TextVerifyConfig):
        super().__init__()
        self.verifier = TextVerifier(config)

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        kind = record.meta.get("generator")
        # code is judged by running it, not by its language
        reason = self.verifier.check(record.text, record.meta.get("seed_lang"), language=kind != "code", kind=kind)
        return True if reason is None else (False, reason)


class MathVerifyStage(Filter):
    """Admits a math sample when enough independent re-solves (made by the source) agree with its answer."""

    name = "verify_math"

    def __init__(self, config: MathCheckConfig):
        super().__init__()
        self.config = config

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        if record.meta.get("generator") != "math":
            return True
        if not record.meta.get("answer"):
            return False, "math_no_answer"
        agreement = float(record.meta.get("agreement", "0"))
        return True if agreement >= self.config.min_agreement else (False, "math_disagreement")


class CodeVerifyStage(Stage):
    """Runs a code sample's function with its tests in the sandbox; the verdict goes into meta or the drop."""

    name = "verify_code"

    def __init__(self, config: SandboxConfig):
        super().__init__()
        self.sandbox = Sandbox(config)

    def apply(self, record: Record) -> Record:
        if record.meta.get("generator") != "code":
            return record
        try:
            code, tests = code_of(record.text)
        except Unparseable as exc:
            raise Drop(exc.reason) from None
        verdict = self.sandbox.run_python(code, tests)
        if verdict.status == "setup_error":
            raise RuntimeError(verdict.stderr.strip()[:500])  # quarantined: the sandbox, not the sample, failed
        if not verdict.ok:
            raise Drop(f"code_{verdict.status}", f"{verdict.passed}/{verdict.total} tests; {verdict.stderr[-1500:]}")
        record.meta.update(verdict="passed", tests_passed=f"{verdict.passed}/{verdict.total}")
        return record


class SeedOverlapFilter(Filter):
    """Drops a sample that mostly copies the seed documents of its task (containment of its 8-grams)."""

    name = "seed_overlap"

    def __init__(self, max_overlap: float):
        super().__init__()
        self.max_overlap = max_overlap

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        overlap = float(record.meta.get("seed_overlap", "0"))
        return True if overlap <= self.max_overlap else (False, "copies_seed")
