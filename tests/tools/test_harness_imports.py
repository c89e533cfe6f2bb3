"""The harness (harness/) is what tests, the demo and the benches run on: it, demo/ and bench/ never import tests/
(read with ``ast``: imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_harness_demo_and_bench_never_import_tests() -> None:
    sources = [path for folder in ("harness", "demo", "bench") for path in sorted((ROOT / folder).rglob("*.py"))]
    assert len(sources) > 30
    offending = {f"{path.relative_to(ROOT)}: {module}" for path in sources for module in _imported(path)
                 if module == "tests" or module.startswith("tests.")}
    assert offending == set()
