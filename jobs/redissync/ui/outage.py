"""The page during a failure: since when Redis has been failing, and which cards are older than that.

A card built from a report cached before the current failure began describes a Redis that no longer
answers: it stays on the page (the last known figures help), marked stale with its age and never green.
The failure's start is the first failed check of the current run of failures in ``check-history.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..reports import UNREACHABLE_STEPS
from .format import age, epoch, text, time_of_day


@dataclass(frozen=True)
class Failure:
    """The current failure: when it began (epoch s), whether Redis is unreachable, the failing step."""

    since: float
    unreachable: bool
    step: str

    def title(self, now: float) -> str:
        since = f"since {time_of_day(self.since, now)}, {age(self.since, now)}"
        return f"Redis unreachable {since}" if self.unreachable else f"Failing {since}: {self.step} failed"


def current_failure(check: Any, history: Any) -> Failure | None:
    """None unless the latest diagnosis failed; its start walks back over the consecutive failed checks."""
    if not isinstance(check, dict) or check.get("state") != "failed":
        return None
    since = epoch(check.get("checked_at"))
    for entry in reversed(history if isinstance(history, list) else []):
        if not isinstance(entry, dict) or entry.get("state") != "failed":
            break
        stamp = epoch(entry.get("at"))
        if stamp is not None and (since is None or stamp < since):
            since = stamp
    if since is None:
        return None
    step = next((s for s in check.get("steps") or [] if isinstance(s, dict) and s.get("status") == "fail"), {})
    return Failure(since, step.get("id") in UNREACHABLE_STEPS, text(step.get("title"), 60) or "a check")


def mark_stale(section: dict[str, Any], built_at: Any, failure: Failure | None, now: float) -> dict[str, Any]:
    """``section`` with a ``stale`` label when its report predates the current failure (or has no date)."""
    if failure is None or section.get("state") != "ok":
        return section
    moment = epoch(built_at)
    if moment is not None and moment >= failure.since:
        return section
    built = f"from {age(moment, now)}" if moment is not None else "of unknown age"
    return {**section, "stale": f"stale: {built}, before the failure"}
