"""Decontamination as a stage: any job (web, pdf, shard, synth) drops documents that share an n-gram with an
evaluation set, with the benchmark's name in the reason (``contaminated_gsm8k``). Wraps `synth.decontam`.

Add it to a job's stage list: ``stages.append(DecontamStage(DecontamConfig()))``; the registry is built once
per worker in `setup` (about 3 s for the default sets) or read from a saved ``.npz`` index.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from corpusforge.config import Config
from corpusforge.errors import ConfigError
from corpusforge.record import Record
from pipelines.stage import Filter
from synth.decontam import DEFAULT_N, Registry

REASON = "contaminated_{}"


class DecontamConfig(Config):
    enabled: bool = True
    n: int = Field(DEFAULT_N, ge=5, description="n-gram length in words (13 as in the GPT-3 and Qwen reports).")
    defaults: bool = Field(True, description="Index GSM8K, MATH and HumanEval from the shared data dir.")
    shared_dir: str | None = Field(None, description="Holds data/math_code (or is math_code); None: ../shared.")
    sets: dict[str, str] = Field(default_factory=dict, description="More evaluation sets: name -> file path.")
    index: str | None = Field(None, description="A saved index (.npz from Registry.save) instead of the sets.")

    def check(self) -> None:
        """Fail before any work when a set is missing (called by the jobs' input_files)."""
        if not self.enabled or self.index:
            return
        if self.defaults:
            Registry.math_code_dir(self.shared_dir)
        for name, path in self.sets.items():
            if not Path(path).is_file():
                raise ConfigError(f"decontam.sets.{name}", f"no such file {path}")

    def build(self) -> Registry:
        if self.index:
            return Registry.load(self.index)
        registry = Registry.load_defaults(self.shared_dir, self.n) if self.defaults else Registry(self.n)
        for name, path in self.sets.items():
            registry.add(name, path)
        return registry


class DecontamStage(Filter):
    name = "decontam"
    version = "1"

    def __init__(self, config: DecontamConfig | None = None):
        super().__init__()
        self.config = config or DecontamConfig()
        if not self.config.index and not self.config.defaults and not self.config.sets:
            raise ConfigError("decontam", "no evaluation set: enable defaults, list sets, or give an index")
        self.registry: Registry | None = None

    def setup(self) -> None:
        if self.registry is None:
            self.registry = self.config.build()

    def filter(self, record: Record) -> bool | tuple[bool, str]:
        self.setup()
        hits = self.registry.hits(record.text)
        return (False, REASON.format(hits[0])) if hits else True
