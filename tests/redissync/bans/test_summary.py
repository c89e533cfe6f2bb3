"""The one rendering of a pass (the job's log line, the page, the demo)."""

from __future__ import annotations

from dataclasses import asdict

from redissync.bans.cycle import PassResult
from redissync.bans.summary import pass_line
from redissync.ui.format import DASH
from redissync.ui.sections import _pass_line


def test_the_log_line_and_the_cached_summary_read_the_same() -> None:
    result = PassResult(seen=1200, new=3, restored=2, kept=1, duration_ms=41, verdict="Redis kept every ban")
    line = result.line()
    assert line == ("1200 bans seen, 3 new, 2 restored, 0 expired, 0 unbans propagated (0 counters cleared), 0 malformed, "
                    "1 re-created meanwhile, 41 ms; Redis kept every ban")
    assert pass_line(asdict(result)) == line
    assert _pass_line({**asdict(result), "ok": True}) == line  # the page shows what the scheduler's log said


def test_a_damaged_cache_shows_question_marks_and_skips_say_why() -> None:
    line = pass_line({"seen": "12", "new": None, "restored": True, "verdict": "v"})
    assert line.startswith("? bans seen, ? new, ? restored, ? expired")
    assert line.endswith("? ms; v")
    assert pass_line({"skipped": "another pass holds the lock"}) == "skipped: another pass holds the lock"
    assert _pass_line({}) == DASH
