"""The package's shape, checked: no import circle, no module far above ~300 lines, every exception in
errors.py. Read from the source with ``ast`` (imports inside functions and under TYPE_CHECKING count too:
a lazy import only hides a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "jobs" / "redissync"
MAX_LINES = 320  # "about 300": a module past this is two modules


def _module(path: Path) -> str:
    parts = ["redissync", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports (``from .x import y`` counts ``x.y`` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


def test_no_import_circle():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    # a subpackage's __init__ re-exports its entry points: importing a sibling through the package is
    # Python's parent-first loading, not a dependency, so edges into a package's own __init__ are left out
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            assert state.get(target) != "open", "import circle: " + " → ".join([*trail[trail.index(target):], target])
            if target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_no_module_far_above_300_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_exception_class_lives_in_errors():
    elsewhere = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and (base.id.endswith(("Error", "Exception")) or base.id in {"BadRequest"})
                    for base in node.bases):
                elsewhere.append(f"{name}.{node.name}")
    assert [name for name in elsewhere if not name.startswith("redissync.errors.")] == []
