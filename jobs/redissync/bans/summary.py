"""``bans-summary.json``: what the UI page shows about bans, written after each pass.

The counts come from the ones the journal keeps as rows are written (``Journal.tally``) and the recent bans
from its date index: a pass never counts the journal, whatever its size. They cover every journaled ban;
the journal drops a ban once Redis no longer has it, so after a pass that is the live bans but for those
that expired during it. Takes the pass's figures as a plain dict (``asdict(PassResult)``), so this module
does not import the pass.
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
DATA_LOSS_VERDICT = "data loss: "  # how a pass's verdict opens when it found Redis had lost data (cycle.py)


def build_summary(journal: Journal, result: dict[str, Any], failed: str | None = None) -> dict[str, Any]:
    stamp = now_ms()
    last_pass = dict(result)
    last_pass["ok"] = failed is None
    if failed:
        last_pass["error"] = failed
    return {
        "updated_ms": stamp,
        "last_pass": last_pass,
        "journal_size": journal.count(),
        "by_scope": journal.tally("scope"),
        "by_reason": journal.tally("reason"),
        "malformed": journal.malformed_counts(),
        "recent": [entry.as_dict(stamp) for entry in journal.most_recent(RECENT, stamp)],
    }


def write_summary(state: StateStore, journal: Journal, result: dict[str, Any], failed: str | None = None) -> None:
    state.write_json(SUMMARY_NAME, build_summary(journal, result, failed))


def _figure(result: Mapping[str, Any], name: str) -> str:
    """A count as text; ``?`` when a damaged cache holds something else."""
    value = result.get(name)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def pass_line(result: Mapping[str, Any], instances: str = "") -> str:
    """One pass in one line, from ``asdict(PassResult)`` or a cached summary's ``last_pass``: the job's log
    line, the page's last-pass line and the demo all print this. ``instances``: :func:`instances_line` of the
    pass's instances (absent outside BunkerWeb). A damaged cache shows ``?`` for a figure, never crashes."""
    if result.get("skipped"):
        return f"skipped: {result['skipped']}"

    def figure(name: str) -> str:
        return _figure(result, name)

    kept, not_restored = result.get("kept"), result.get("not_restored")
    return (f"{figure('seen')} bans seen, {figure('new')} new, {figure('restored')} restored, {figure('expired')} expired, "
            f"{figure('unbans')} unbans propagated ({figure('counters_cleared')} counters cleared), {figure('malformed')} malformed"
            + (f", {figure('kept')} re-created meanwhile" if kept else "")
            + (f", {figure('not_restored')} lost bans forgotten (REDISSYNC_RESTORE_BANS=no)" if not_restored else "")
            + f", {figure('duration_ms')} ms; {result.get('verdict') or ''}"
            + (f"; {result['mode_switch']}" if isinstance(result.get("mode_switch"), str) and result["mode_switch"] else "")
            + (f"; {instances}" if instances else ""))


_INSTANCE_FIGURES = (("waiting", "permanent copies wait for the next pass"), ("unbanned_copies", "copies of unbanned bans ignored"),
                     ("malformed", "malformed"), ("leases", "CrowdSec leases left to CrowdSec"),
                     ("other_kinds", "rows of an unknown kind skipped"))


def instances_line(report: Mapping[str, Any]) -> str:
    """What the instances added to a pass, from ``asdict(InstancesReport)`` or the cached ``last_pass``'s
    ``instances``: the job's log line and the page say the same."""
    line = (f"{_figure(report, 'propagated')} local-only bans propagated from {_figure(report, 'sources')} instances "
            f"({_figure(report, 'answered')}/{_figure(report, 'instances')} answered")
    line += "".join(f", {_figure(report, name)} {wording}" for name, wording in _INSTANCE_FIGURES if report.get(name))
    line += ")"
    silent = report.get("silent")
    if isinstance(silent, Mapping) and silent:
        line += "; no answer from " + ", ".join(f"{name} ({why})" for name, why in sorted(silent.items()))
    return line
