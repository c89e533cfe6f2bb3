"""Each job's figures record (``<job>-figures.json``): its runs and its counters, kept where the next run finds them.

A job is a fresh process, and inside BunkerWeb every run starts from the *database* copy of its job cache, so
the counters live in the job's cache (:class:`StateStore`), written at the end of every run. What a run adds is
read from the summary the job has just cached (``bans-summary.json``), never from the pass itself: the pass
stays unaware of Prometheus, and a summary is counted once (its ``updated_ms`` is remembered), so a run that
failed before writing a new summary, or a skipped pass, adds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..bans.summary import DATA_LOSS_VERDICT
from ..cached_files import BANS_SUMMARY_FILE, figures_file
from ..state import StateStore

SCHEMA = 1

# counter → how one bans pass adds to it (its ``last_pass`` in bans-summary.json)
BANS_COUNTERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "bans_restored": lambda last: last.get("restored"),
    "bans_data_loss_events": lambda last: int(str(last.get("verdict") or "").startswith(DATA_LOSS_VERDICT)),
    "bans_lost_not_restored": lambda last: last.get("not_restored"),
    "bans_unbans_propagated": lambda last: last.get("unbans"),
    "bans_local_only_propagated": lambda last: (last.get("instances") or {}).get("propagated"),
}


@dataclass
class JobFigures:
    """What ``<job>-figures.json`` holds (schema :data:`SCHEMA`)."""

    runs: int = 0
    failures: int = 0
    last_run_s: float | None = None  # Unix time the last run ended
    last_success_s: float | None = None
    last_duration_s: float = 0.0
    last_ok: bool = False
    counters: dict[str, int] = field(default_factory=dict)
    counted_ms: int = 0  # the ``updated_ms`` of the last summary whose pass was counted

    @classmethod
    def from_json(cls, data: Any) -> JobFigures:
        """A damaged or missing record starts again from zero (Prometheus's ``rate`` and ``increase`` treat
        that as a counter reset), never crashes the job."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            return cls()
        figures = cls()
        for name in ("runs", "failures", "counted_ms"):
            if _count(data.get(name)) is not None:
                setattr(figures, name, data[name])
        for name in ("last_run_s", "last_success_s", "last_duration_s"):
            value = data.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                setattr(figures, name, float(value))
        figures.last_ok = data.get("last_ok") is True
        counters = data.get("counters")
        if isinstance(counters, dict):
            figures.counters = {name: value for name, value in counters.items() if isinstance(name, str) and _count(value) is not None}
        return figures

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


def _count(value: Any) -> int | None:
    return value if value.__class__ is int and value >= 0 else None


def count_bans_pass(figures: JobFigures, summary: Any) -> None:
    """Add a bans pass's figures to the counters, once per summary."""
    if not isinstance(summary, dict) or not isinstance(summary.get("last_pass"), dict):
        return
    stamp = summary.get("updated_ms")
    if stamp.__class__ is not int or stamp <= figures.counted_ms:
        return
    figures.counted_ms = stamp
    for name, added in BANS_COUNTERS.items():
        figures.counters[name] = figures.counters.get(name, 0) + (_count(added(summary["last_pass"])) or 0)


def update(job: str, state: StateStore, ok: bool, duration_s: float, now: float | None = None) -> JobFigures:
    """Read the job's record, add this run (and, for the bans job, its pass), write it back; returns it."""
    figures = JobFigures.from_json(state.read_json(figures_file(job)))
    now = time.time() if now is None else now
    figures.runs += 1
    figures.failures += 0 if ok else 1
    figures.last_run_s, figures.last_duration_s, figures.last_ok = now, round(max(0.0, duration_s), 6), ok
    if ok:
        figures.last_success_s = now
    if job == "redissync-bans":
        count_bans_pass(figures, state.read_json(BANS_SUMMARY_FILE))
    state.write_json(figures_file(job), figures.to_json())
    return figures
