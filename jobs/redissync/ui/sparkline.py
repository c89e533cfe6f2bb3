"""Sparklines computed on the server: the UI page draws them as inline SVG with no JavaScript.

BunkerWeb UIs often run offline, so the page cannot load a chart library from a CDN. This module turns
a series into the few numbers an ``<svg>`` needs (a polyline, an area path, the last point) in a fixed
viewBox; the template only prints them, so the page stays autoescaped and needs no ``Markup``.
Missing points (``None``) break the line instead of being drawn as zeros: a gap in the data is visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 240
HEIGHT = 48
PAD = 3  # keeps the stroke and the end dot inside the viewBox


@dataclass(frozen=True)
class Sparkline:
    """Everything the template prints; ``segments`` are polylines (one per unbroken run of points)."""

    width: int
    height: int
    segments: tuple[str, ...]
    area: str
    last_x: float | None
    last_y: float | None
    minimum: float | None
    maximum: float | None
    last: float | None
    points: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.points == 0

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"


def _clean(values: Sequence[object]) -> list[float | None]:
    cleaned: list[float | None] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            cleaned.append(None)
        else:
            cleaned.append(float(value))
    return cleaned


def _fmt(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def sparkline(values: Sequence[object], width: int = WIDTH, height: int = HEIGHT, floor_zero: bool = True) -> Sparkline:
    """Scale ``values`` (oldest first) into a ``width``×``height`` box.

    ``floor_zero`` anchors the scale at 0 for counts and rates (a flat line near the top would look like
    an alarm); latency-like series pass False to show their variation.
    """
    series = _clean(values)
    known = [value for value in series if value is not None]
    if not known:
        return Sparkline(width, height, (), "", None, None, None, None, None, 0)
    low, high = min(known), max(known)
    if floor_zero:
        low = min(0.0, low)
    span = high - low or 1.0
    step = (width - 2 * PAD) / max(1, len(series) - 1)

    def x_of(index: int) -> float:
        return PAD + index * step if len(series) > 1 else width / 2

    def y_of(value: float) -> float:
        return height - PAD - (value - low) / span * (height - 2 * PAD)

    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for index, value in enumerate(series):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append((x_of(index), y_of(value)))
    if current:
        segments.append(current)

    polylines = tuple(" ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in segment) for segment in segments)
    baseline = _fmt(height - PAD)
    area = " ".join(
        f"M{_fmt(segment[0][0])},{baseline} " + " ".join(f"L{_fmt(x)},{_fmt(y)}" for x, y in segment)
        + f" L{_fmt(segment[-1][0])},{baseline} Z"
        for segment in segments if len(segment) > 1
    )
    last_x, last_y = segments[-1][-1]
    return Sparkline(width, height, polylines, area, round(last_x, 1), round(last_y, 1), min(known), max(known),
                     known[-1], len(known))
