"""Small, total formatting helpers for the UI page: every function accepts anything and never raises.

Cached reports come from other jobs (and other versions of them): a field may be missing, null or of an
unexpected type. The view model reads every field through these helpers so one odd value shows as "—"
instead of breaking the whole page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import human

DASH = "—"


def dig(value: Any, *path: str | int, default: Any = None) -> Any:
    """``value[path[0]][path[1]]…`` or ``default`` at the first missing or mistyped step."""
    for step in path:
        indexable = isinstance(step, int) and isinstance(value, list | tuple) and -len(value) <= step < len(value)
        if not indexable and not (isinstance(value, Mapping) and step in value):
            return default
        value = value[step]
    return default if value is None else value


def first(mapping: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present (and not None) in ``mapping``: tolerates renamed report fields."""
    if isinstance(mapping, Mapping):
        for name in names:
            if mapping.get(name) is not None:
                return mapping[name]
    return default


def number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def text(value: Any, limit: int = 300) -> str:
    """A short printable string (reports are data, not markup: the template escapes it)."""
    if value is None:
        return ""
    shown = value if isinstance(value, str) else str(value)
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def count(value: Any) -> str:
    parsed = number(value)
    return DASH if parsed is None else f"{int(parsed):,}".replace(",", " ")


def milliseconds(value: Any) -> str:
    parsed = number(value)
    if parsed is None:
        return DASH
    return f"{parsed:.2f} ms" if parsed < 10 else f"{parsed:.0f} ms"


def rate(value: Any) -> str:
    parsed = number(value)
    if parsed is None:
        return DASH
    return f"{parsed:.1f}/s" if parsed < 100 else f"{parsed:,.0f}/s".replace(",", " ")


def size(value: Any) -> str:
    parsed = number(value)
    return DASH if parsed is None else human.size(parsed)


def duration(value: Any) -> str:
    parsed = number(value)
    return DASH if parsed is None else human.duration(parsed)


def epoch(value: Any) -> float | None:
    """Seconds since the epoch from a number (s or ms) or an ISO-8601 string."""
    parsed = number(value)
    if parsed is not None:
        return parsed / 1000 if parsed > 1e11 else parsed
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def when(value: Any) -> str:
    """UTC date for a tooltip or a table cell."""
    moment = epoch(value)
    if moment is None:
        return DASH
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_of_day(moment: float, now: float) -> str:
    """The time of day for today, the date too for older moments (UTC, as every date on the page)."""
    stamp, today = datetime.fromtimestamp(moment, UTC), datetime.fromtimestamp(now, UTC)
    return stamp.strftime("%H:%M:%S UTC" if stamp.date() == today.date() else "%Y-%m-%d %H:%M UTC")


def age(value: Any, now: float | None = None) -> str:
    """"42 s ago", "5 min ago"… — how old a report is matters more than its date."""
    moment = epoch(value)
    if moment is None:
        return "never"
    seconds = max(0.0, (time.time() if now is None else now) - moment)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"



