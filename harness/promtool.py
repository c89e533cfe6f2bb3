"""Prometheus's own tools on what the tests produce: ``promtool check metrics`` (the text format and its
naming lint) and a small parser of the text format for assertions.

promtool comes with Debian's ``prometheus`` package (installed by ``make deps`` and .ci/run); the daemon
is never started.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
_SAMPLE = re.compile(r'(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert Path(PROMTOOL).exists(), "promtool not found: install Debian's prometheus package (make deps does)"
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd)


def check_metrics(text: str) -> str:
    """Fails the test unless promtool finds the exposition valid and lint-clean; returns it for chaining."""
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, f"promtool check metrics: {result.stdout}{result.stderr}\n{text}"
    return text


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """``{(name, frozenset of (label, value)): value}`` of every sample line."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            labels = frozenset(_LABEL.findall(match["labels"] or ""))
            found[(match["name"], labels)] = float(match["value"])
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))
