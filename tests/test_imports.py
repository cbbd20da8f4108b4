"""The layout's import rules (shared DESIGN.md): no import circle between project modules, not even through
imports inside functions, and no arrow the package table forbids. Read from the source with ``ast``, so the
test needs none of the heavy dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("corpusforge", "annotators", "synth", "pipelines", "mixtures", "training")
#: package → the project packages it may import (besides itself)
ALLOWED = {
    "corpusforge": set(),
    "annotators": {"corpusforge"},
    "synth": {"corpusforge"},
    "pipelines": {"corpusforge", "annotators", "synth"},
    "mixtures": {"corpusforge", "training"},
    "training": {"corpusforge"},
}
#: (importer module, imported module) pairs tolerated until their owner moves them; empty when none
KNOWN_EXCEPTIONS: set[tuple[str, str]] = {
    # the teacher LLM is synth's backend: either DESIGN lets annotators use synth.llm, or the LLM backends
    # move to corpusforge (open question, see CHANGELOG)
    ("annotators.teacher", "synth.llm"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its file (top level, functions, ``TYPE_CHECKING`` blocks
    excepted: they never run)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        elif _import_call(node):
            targets = [node.args[0].value]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved and resolved != name:
                found.add(resolved)
    return found


def _import_call(node: ast.AST) -> bool:
    """``importlib.import_module("a.b")`` or ``__import__("a.b")`` with a constant name."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    name = getattr(node.func, "attr", getattr(node.func, "id", ""))
    first = node.args[0]
    return name in ("import_module", "__import__") and isinstance(first, ast.Constant) and isinstance(first.value, str)


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The longest project module a dotted import names (``from a.b import c`` names ``a.b`` or ``a.b.c``)."""
    parts = target.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module (or a self-loop) are circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Module circles; a package's ``__init__`` importing its own submodules is not one of them when the
    submodule reaches the package only for that re-export (the usual ``pkg/__init__`` ↔ ``pkg.mod`` pattern is
    still reported: it is a real circle at import time)."""
    return _strongly_connected(graph)


def forbidden_arrows(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for importer, targets in sorted(graph.items()):
        top = importer.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != top and other not in ALLOWED[top] and (importer, target) not in KNOWN_EXCEPTIONS:
                bad.append(f"{importer} → {target} ({top} may import only {sorted(ALLOWED[top]) or 'nothing'})")
    return bad


def test_no_import_circles():
    found = circles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_layout_arrows():
    bad = forbidden_arrows(import_graph())
    assert not bad, "imports DESIGN.md's table forbids:\n" + "\n".join(bad)


def test_known_exceptions_still_needed():
    graph = import_graph()
    stale = [pair for pair in KNOWN_EXCEPTIONS if pair[1] not in graph.get(pair[0], set())]
    assert not stale, f"drop these from KNOWN_EXCEPTIONS, the import is gone: {stale}"


def test_the_checker_sees_hidden_imports(tmp_path):
    """The guard itself: an import inside a function and a relative import both count."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    src = "def f():\n    from pipelines.engines import local\n    from . import stage\n"
    path = tmp_path / "mod.py"
    path.write_text(src)
    modules = {"pipelines.engines.local": path, "pipelines.stage": path, "pipelines.x": path}
    assert imports_of("pipelines.x", path, modules) == {"pipelines.engines.local", "pipelines.stage"}
    assert forbidden_arrows({"training.data": {"pipelines.shards"}}) == [
        "training.data → pipelines.shards (training may import only ['corpusforge'])"
    ]
