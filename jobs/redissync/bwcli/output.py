"""Text for people: aligned tables, plurals, and one progress line on a terminal (durations: ..human)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 live ban``, ``3 live bans``, ``0 live bans`` (thin space-free: scripts parse the number)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart; the last column is not padded (no trailing blanks)."""
    widths = [max(len(str(row[index])) for row in [headers, *rows]) for index in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), *(line(row) for row in rows)]


class Progress:
    """Long work on a terminal: one line rewritten in place (``\\r``), at most ``per_second`` times a second.
    When the stream is not a terminal (a pipe, a log, BunkerWeb's captured output) it writes nothing."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None, per_second: float = 8.0):
        self.stream = sys.stderr if stream is None else stream
        self.label, self.total = label, total
        self.enabled = _is_terminal(self.stream)
        self._interval = 1.0 / per_second
        self._next = 0.0
        self._width = 0

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self._interval
        share = f"/{self.total:,} ({100 * done / self.total:.0f} %)" if self.total else ""
        text = f"{self.label}: {done:,}{share}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Erase the line, so the result printed next stands alone."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
