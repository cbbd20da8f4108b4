"""What every extension point shares (a pipeline `Stage`, an `Annotator`): a name and version written into the
records it touches, optional dependencies checked at construction with an install hint, and a `setup` hook
that loads models once per worker process. Each extension point adds its one method."""

from __future__ import annotations

import importlib.util

from corpusforge.errors import DependencyError


class Plugin:
    name: str = "plugin"
    version: str = "1"
    #: (module, extra) pairs checked at construction, so a missing package fails early with an install hint
    requires: tuple[tuple[str, str], ...] = ()

    def __init__(self) -> None:
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                raise DependencyError(type(self).__name__, module, extra)

    def setup(self) -> None:
        """Load models now (once per worker process) rather than on the first record."""
