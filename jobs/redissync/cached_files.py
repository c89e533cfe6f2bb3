"""The contract between the jobs and the UI: the files the jobs cache, which job writes each, their shape.

Each job writes its report through its ``StateStore`` under a name below; the UI page reads the same names
(from BunkerWeb's job cache, or ``REDISSYNC_STATE_DIR``) and only the fields the ``TypedDict`` of that file
lists (tests/ui/test_report_contract.py holds the writers to it).
"""

from __future__ import annotations

from typing import Any, TypedDict

REPORT_FILE = "check-report.json"
HISTORY_FILE = "check-history.json"
BANS_SUMMARY_FILE = "bans-summary.json"
METRICS_SUMMARY_FILE = "metrics-summary.json"
SESSIONS_SUMMARY_FILE = "sessions-summary.json"
RUN_RECORD_JOBS = ("redissync-bans", "redissync-metrics", "redissync-sessions")  # the check job's record: its report


def run_record_file(job: str) -> str:
    """Each job's own record of how its last run ended (``runner.record_run``): what the page shows as the
    job's status, never BunkerWeb's job-run records (see ``RunRecord``)."""
    return f"{job}-run.json"


def figures_file(job: str) -> str:
    """Each job's figures record (``figures/record.py``): its runs and counters, for the Prometheus exposition."""
    return f"{job}-figures.json"


REPORT_JOBS = {  # cached file → the job that writes it (BunkerWeb keys its job cache by job name)
    REPORT_FILE: "redissync-check",
    HISTORY_FILE: "redissync-check",
    BANS_SUMMARY_FILE: "redissync-bans",
    METRICS_SUMMARY_FILE: "redissync-metrics",
    SESSIONS_SUMMARY_FILE: "redissync-sessions",
    **{run_record_file(job): job for job in RUN_RECORD_JOBS},
}


class CheckReport(TypedDict):
    """``check-report.json``: :meth:`Report.to_dict`."""

    schema: int
    state: str
    healthy: bool
    enabled: bool
    headline: str
    checked_at: str
    duration_ms: float
    mode: str
    target: str
    failed_step: str | None
    failure: str | None
    failure_settings: list[str]
    warnings: list[str]
    notes: list[str]
    latency_ms: dict[str, float] | None
    facts: dict[str, Any]
    settings: dict[str, Any]
    steps: list[dict[str, Any]]  # Step.to_dict(): id, title, status, duration_ms, summary, sentence, settings, lines, details, warnings


class BansSummary(TypedDict):
    """``bans-summary.json`` (bans/summary.py): the last pass's figures and the journal's counts."""

    updated_ms: int
    last_pass: dict[str, Any]  # asdict(PassResult) + ok (+ error when the pass failed)
    journal_size: int
    by_scope: dict[str, int]
    by_reason: dict[str, int]
    malformed: dict[str, int]
    recent: list[dict[str, Any]]


class MetricsSummary(TypedDict):
    """``metrics-summary.json`` (metrics/cycle.py ``aggregate_pass``)."""

    generated_at: str
    minute: int
    metrics_keys: int
    counter_series: int
    table_series: int
    counters: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    workers: list[str]
    masters: int  # keyspaces read: 1, or the masters of a Redis Cluster
    server: dict[str, Any]
    series: dict[str, Any]
    series_points: int
    hygiene: dict[str, Any]
    requests: dict[str, Any]
    malformed: dict[str, int]
    summary: str


class SessionsSummary(TypedDict):
    """``sessions-summary.json`` (sessions.py ``build_summary``)."""

    generated_at: str
    live: int
    cookies: dict[str, dict[str, Any]]
    buckets: dict[str, int]
    ui: dict[str, Any]
    no_ttl_found: int
    bounded_now: int
    bounding_applied: bool
    absolute_timeout_s: int
    malformed: dict[str, int]
    summary: str


class RunRecord(TypedDict):
    """``<job>-run.json``. BunkerWeb's scheduler records a batch's later failures as successes once one job
    of the batch has failed (``src/scheduler/JobScheduler.py``, ``__job_wrapper``), so jobs keep their own."""

    at: str  # ISO 8601, UTC
    ok: bool
    line: str  # the run's log line (secret-free)


SHAPES: dict[str, type] = {REPORT_FILE: CheckReport, BANS_SUMMARY_FILE: BansSummary, METRICS_SUMMARY_FILE: MetricsSummary,
                           SESSIONS_SUMMARY_FILE: SessionsSummary, **{run_record_file(job): RunRecord for job in RUN_RECORD_JOBS}}
