"""Sizes and durations for people, one style everywhere: ``bwcli``, the UI page and the job log lines
say "1.5 MiB" and "3 h 20 m" alike (the page wraps these in its never-raising readers, ui/format.py)."""

from __future__ import annotations


def size(size_bytes: float) -> str:
    """Binary units, one decimal above bytes: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size_bytes) < 1024 or unit == "GiB":
            break
        size_bytes /= 1024
    return f"{size_bytes:.0f} {unit}" if unit == "B" else f"{size_bytes:.1f} {unit}"


def duration(seconds: float) -> str:
    """The two largest units: ``23 h 59 m``, ``4 m 10 s``, ``12 s``, ``3 d 2 h``."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((index for index, (value, _) in enumerate(parts) if value), len(parts) - 1)
    return " ".join(f"{value} {unit}" for value, unit in parts[first:first + 2])
