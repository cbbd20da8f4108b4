"""One exception family: every error CorpusForge raises names its culprit."""

from __future__ import annotations


class CorpusForgeError(Exception):
    """Base of every error CorpusForge raises on purpose."""

    #: the command's exit status when this error ends it: 2 is a usage or input mistake, for the user to fix
    exit_code = 2


class StorageError(CorpusForgeError):
    """An output cannot be written (disk full, a file-size limit): the machine's problem, not the input's."""

    exit_code = 1

    #: errno values that mean "no room to write"
    NO_SPACE = frozenset({28, 27, 122})  # ENOSPC, EFBIG, EDQUOT (Linux)


class ConfigError(CorpusForgeError):
    """A config field is invalid; raised before any work starts."""

    def __init__(self, field: str, problem: str, source: str | None = None):
        self.field = field
        self.problem = problem
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid config field '{field}'{where}: {problem}")


class InputError(CorpusForgeError):
    """An input (file, record, URL) cannot be read as what it claims to be. ``reason`` is a short name a caller
    that skips such inputs counts them under (so it never parses the message)."""

    def __init__(self, culprit: str, problem: str, reason: str | None = None):
        self.culprit = culprit
        self.problem = problem
        self.reason = reason
        super().__init__(f"{culprit}: {problem}")


class DependencyError(CorpusForgeError):
    """An optional dependency is missing; the message says how to install it."""

    def __init__(self, component: str, package: str, extra: str | None = None):
        hint = f"pip install 'corpusforge[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{component} needs the '{package}' package: {hint}")


class Drop(CorpusForgeError):
    """Raised by a stage to drop the current record with a named reason (not an error)."""

    def __init__(self, reason: str, detail: str | None = None):
        self.reason = reason
        self.detail = detail
        super().__init__(reason if detail is None else f"{reason}: {detail}")


class StoreUnreachable(StorageError):
    """A file store (an object store, a remote file system) did not answer, after retries with backoff."""

    def __init__(self, url: str, problem: str):
        self.url = url
        self.problem = problem
        super().__init__(f"{url}: {problem}")

    def __reduce__(self):  # raised in worker processes and sent back to the driver
        return type(self), (self.url, self.problem)
