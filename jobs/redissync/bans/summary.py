"""``bans-summary.json``: what the UI page shows about bans, computed from the journal after each pass.

Takes the pass's figures as a plain dict (``asdict(PassResult)``), so this module does not import the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..cached_files import BANS_SUMMARY_FILE
from ..clock import now_ms
from .journal import Journal

if TYPE_CHECKING:
    from ..state import StateStore

SUMMARY_NAME = BANS_SUMMARY_FILE
RECENT = 20


_JOURNAL_FIELDS = ("journal_size", "by_scope", "by_reason", "malformed", "recent")


def build_summary(journal: Journal, result: dict[str, Any], failed: str | None = None, counts: bool = True) -> dict[str, Any]:
    stamp = now_ms()
    last_pass = dict(result)
    last_pass["ok"] = failed is None
    if failed:
        last_pass["error"] = failed
    if not counts:
        return {"updated_ms": stamp, "last_pass": last_pass}
    return {
        "updated_ms": stamp,
        "last_pass": last_pass,
        "journal_size": journal.count(),
        "by_scope": journal.counts_by("scope", stamp),
        "by_reason": journal.counts_by("reason", stamp),
        "malformed": journal.malformed_counts(),
        "recent": [entry.as_dict(stamp) for entry in journal.most_recent(RECENT, stamp)],
    }


def write_summary(state: StateStore, journal: Journal, result: dict[str, Any], failed: str | None = None,
                  recount: bool | None = None) -> None:
    """Recount from the journal only when it changed (``recount``; by default its unsaved changes): a quiet
    pass updates ``last_pass`` alone."""
    recount = journal.changes > 0 if recount is None else recount
    previous = state.read_json(SUMMARY_NAME) if not recount else None
    if isinstance(previous, dict) and all(name in previous for name in _JOURNAL_FIELDS):
        fresh = build_summary(journal, result, failed, counts=False)
        summary = {**fresh, **{name: previous[name] for name in _JOURNAL_FIELDS}}
    else:
        summary = build_summary(journal, result, failed)
    state.write_json(SUMMARY_NAME, summary)


def pass_line(result: Mapping[str, Any], instances: str = "") -> str:
    """One pass in one line, from ``asdict(PassResult)`` or a cached summary's ``last_pass``: the job's log
    line, the page's last-pass line and the demo all print this. ``instances`` is how the caller words the
    instances' part (absent outside BunkerWeb). A damaged cache shows ``?`` for a figure, never crashes."""
    if result.get("skipped"):
        return f"skipped: {result['skipped']}"

    def figure(name: str) -> str:
        value = result.get(name)
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"

    kept, not_restored = result.get("kept"), result.get("not_restored")
    return (f"{figure('seen')} bans seen, {figure('new')} new, {figure('restored')} restored, {figure('expired')} expired, "
            f"{figure('unbans')} unbans propagated ({figure('counters_cleared')} counters cleared), {figure('malformed')} malformed"
            + (f", {figure('kept')} re-created meanwhile" if kept else "")
            + (f", {figure('not_restored')} lost bans forgotten (REDISSYNC_RESTORE_BANS=no)" if not_restored else "")
            + f", {figure('duration_ms')} ms; {result.get('verdict') or ''}"
            + (f"; {instances}" if instances else ""))
