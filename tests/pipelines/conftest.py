import pytest


@pytest.fixture
def assert_same_part_files():
    """Checks that two runs of a job wrote byte-identical part files (documents, audit, ledger): what an engine
    may not change."""

    def check(a, b) -> None:
        for sub in ("documents", "audit", "ledger"):
            names = sorted(p.name for p in (a / sub).iterdir())
            assert names == sorted(p.name for p in (b / sub).iterdir())
            for name in names:
                assert (a / sub / name).read_bytes() == (b / sub / name).read_bytes(), (sub, name)

    return check
