"""What each job contributes to the exposition, read from what it has just cached (docs/observability.md lists them).

Labels stay bounded: ``job_name`` (four jobs), ``step`` (the diagnosis' fixed step ids), ``kind`` (fixed
malformed kinds), ``shard`` (a cluster shard's slot ranges). Never an address: the per-instance view comes
from each instance's own endpoint (``redissync.lua``), which Prometheus labels with its target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bans.archive import stored_bytes
from ..cached_files import BANS_SUMMARY_FILE, METRICS_SUMMARY_FILE, REPORT_FILE, SESSIONS_SUMMARY_FILE
from ..reports import CLUSTER_TOPOLOGY, SENTINEL_LOOKUP
from ..state import StateStore
from .exposition import Family
from .record import BANS_COUNTERS, JobFigures

COUNTER_HELP = {
    "bans_restored": "Bans written back to Redis after it lost them (SET NX of journaled bans).",
    "bans_data_loss_events": "Bans passes that found Redis had lost data (a flush, a restart without persistence, an empty new master).",
    "bans_lost_not_restored": "Journaled bans Redis lost that were forgotten, not restored (REDISSYNC_RESTORE_BANS=no).",
    "bans_unbans_propagated": "Bans lifted in Redis that the journal dropped too (unbans made anywhere in the cluster).",
    "bans_local_only_propagated": "Bans only one instance held that were written to Redis for every instance.",
}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_families(job: str, figures: JobFigures) -> list[Family]:
    """Every job: how its runs went. Timestamps, not ages: ``time() - x`` keeps growing when the scheduler stops."""
    runs = Family("redissync_job_runs_total", "counter", "Runs of the job since its figures record began (kept in BunkerWeb's job cache).")
    failures = Family("redissync_job_failures_total", "counter", "Failed runs of the job (exit code 2).")
    success = Family("redissync_job_last_run_success", "gauge", "1 if the job's last run succeeded, else 0.")
    duration = Family("redissync_job_last_run_duration_seconds", "gauge", "How long the job's last run took.")
    ended = Family("redissync_job_last_run_timestamp_seconds", "gauge", "Unix time the job's last run ended.")
    succeeded = Family("redissync_job_last_success_timestamp_seconds", "gauge", "Unix time the job's last successful run ended.")
    runs.add(figures.runs, job_name=job)
    failures.add(figures.failures, job_name=job)
    success.add(figures.last_ok, job_name=job)
    duration.add(figures.last_duration_s, job_name=job)
    if figures.last_run_s is not None:
        ended.add(figures.last_run_s, job_name=job)
    if figures.last_success_s is not None:
        succeeded.add(figures.last_success_s, job_name=job)
    return [runs, failures, success, duration, ended, succeeded]


def check_families(report: Any) -> list[Family]:
    """The last diagnosis: health, each step's outcome, PING from the scheduler, Sentinel agreement, shards."""
    if not isinstance(report, dict) or not report.get("enabled", True):
        return []
    healthy = Family("redissync_diagnosis_healthy", "gauge", "1 if the last diagnosis passed every step, else 0.")
    healthy.add(report.get("healthy") is True)
    steps = Family("redissync_diagnosis_step_failed", "gauge", "1 for the step the last diagnosis failed at, 0 for the steps it passed.")
    for step in report.get("steps") or []:
        if isinstance(step, dict) and step.get("status") in ("ok", "fail") and isinstance(step.get("id"), str):
            steps.add(step["status"] == "fail", step=step["id"])
    warnings = Family("redissync_diagnosis_warnings", "gauge", "Warnings the last diagnosis raised (see the page or bwcli check).")
    warnings.add(len(report.get("warnings") or []))
    ping = Family("redissync_diagnosis_ping_seconds", "gauge", "PING round trip from the scheduler in the last diagnosis (5 PINGs).")
    for stat, value in (report.get("latency_ms") or {}).items():
        if stat in ("min", "median", "max") and _number(value) is not None:
            ping.add(value / 1000, stat=stat)
    return [healthy, steps, warnings, ping, *sentinel_families(report), *shard_families(report)]


def _step(report: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next((step for step in report.get("steps") or [] if isinstance(step, dict) and step.get("id") == step_id), {})


def sentinel_families(report: dict[str, Any]) -> list[Family]:
    """How many sentinels named a master, and how many named the one most of them named."""
    details = _step(report, SENTINEL_LOOKUP).get("details") or {}
    answers = details.get("answers")
    if not isinstance(answers, dict):
        return []
    agreeing = sum(1 for master in answers.values() if master == details.get("master"))
    named = Family("redissync_sentinel_answers", "gauge", "Sentinels that named a master for REDIS_SENTINEL_MASTER in the last diagnosis.")
    agree = Family("redissync_sentinel_agreeing", "gauge", "Sentinels that named the master most sentinels named.")
    agreement = Family("redissync_sentinel_agreement", "gauge", "1 if every answering sentinel named the same master, else 0.")
    named.add(len(answers))
    agree.add(agreeing)
    agreement.add(bool(answers) and agreeing == len(answers))
    return [named, agree, agreement]


def shard_families(report: dict[str, Any]) -> list[Family]:
    """Redis Cluster shards, from the check's ``cluster-topology`` step (``details["shards"]``: each shard's slot
    ranges, ``state`` and replicas with their flags and link, as ``CLUSTER NODES`` gives them). A shard is
    labelled by its slot ranges (``0-5460``): bounded, stable across failovers, never an address."""
    shards = (_step(report, CLUSTER_TOPOLOGY).get("details") or {}).get("shards")
    if not isinstance(shards, list):
        return []
    up = Family("redissync_cluster_shard_up", "gauge", "1 unless the cluster shard's master is failed with no replica promoted.")
    replicas = Family("redissync_cluster_shard_replicas", "gauge", "Replicas of the cluster shard that are connected and not failing.")
    for shard in shards:
        if not isinstance(shard, dict) or not isinstance(shard.get("slots"), list):
            continue
        name = shard_label(shard["slots"])
        up.add(shard.get("state") != "fail", shard=name)
        replicas.add(sum(1 for replica in shard.get("replicas") or [] if _in_sync(replica)), shard=name)
    return [up, replicas]


def shard_label(slots: list[Any]) -> str:
    """``0-5460``, ``5461-10922,16000``; a shard fragmented by resharding keeps its first three ranges and says
    how many more (``0-9,20-29,40-49,+12``), so the label stays short."""
    ranges = [f"{pair[0]}-{pair[1]}" if pair[0] != pair[1] else str(pair[0])
              for pair in slots if isinstance(pair, list) and len(pair) == 2]
    return ",".join(ranges) if len(ranges) <= 4 else ",".join(ranges[:3]) + f",+{len(ranges) - 3}"


def _in_sync(replica: Any) -> bool:
    """A replica that could take over: not failing (``fail``, ``fail?``) and linked to the cluster."""
    return (isinstance(replica, dict) and replica.get("link") == "connected"
            and not {"fail", "fail?"} & set(replica.get("flags") or []))


def bans_families(summary: Any, figures: JobFigures, state: StateStore) -> list[Family]:
    counters = [Family(f"redissync_{name}_total", "counter", COUNTER_HELP[name]).add(figures.counters.get(name, 0))
                for name in BANS_COUNTERS]
    if not isinstance(summary, dict):
        return counters
    journaled = Family("redissync_bans_journaled", "gauge", "Bans the journal holds (what a restore would write back).")
    if _number(summary.get("journal_size")) is not None:
        journaled.add(summary["journal_size"])
    malformed = Family("redissync_bans_malformed", "gauge", "Ban keys in Redis the last pass skipped as malformed, by kind.")
    kinds = (summary.get("last_pass") or {}).get("malformed_kinds") or summary.get("malformed") or {}
    for kind, count in kinds.items() if isinstance(kinds, dict) else ():
        if _number(count) is not None:
            malformed.add(count, kind=str(kind))
    stored = Family("redissync_bans_journal_stored_bytes", "gauge",
                    "Bytes the ban journal's archive occupies in BunkerWeb's database (job cache); "
                    "outside BunkerWeb, in the state directory.")
    size = stored_bytes(state)
    if size is not None:
        stored.add(size)
    return [journaled, *counters, malformed, stored]


def metrics_families(summary: Any) -> list[Family]:
    if not isinstance(summary, dict):
        return []
    keys = Family("redissync_metrics_keys", "gauge", "BunkerWeb metrics keys in Redis at the last metrics pass.")
    no_ttl = Family("redissync_metrics_keys_without_ttl", "gauge", "Metrics keys in Redis without an expiry (they never leave Redis).")
    if _number(summary.get("metrics_keys")) is not None:
        keys.add(summary["metrics_keys"])
    hygiene = summary.get("hygiene")
    if isinstance(hygiene, dict) and _number(hygiene.get("no_ttl")) is not None:
        no_ttl.add(hygiene["no_ttl"])
    return [keys, no_ttl]


def sessions_families(summary: Any) -> list[Family]:
    if not isinstance(summary, dict):
        return []
    live = Family("redissync_sessions_live", "gauge", "Live BunkerWeb sessions in Redis at the last sessions pass (cookie sessions).")
    no_ttl = Family("redissync_sessions_without_ttl", "gauge", "Sessions found without an expiry at the last sessions pass.")
    if _number(summary.get("live")) is not None:
        live.add(summary["live"])
    if _number(summary.get("no_ttl_found")) is not None:
        no_ttl.add(summary["no_ttl_found"])
    return [live, no_ttl]


_OWN: dict[str, Callable[[StateStore, JobFigures], list[Family]]] = {
    "redissync-check": lambda state, figures: check_families(state.read_json(REPORT_FILE)),
    "redissync-bans": lambda state, figures: bans_families(state.read_json(BANS_SUMMARY_FILE), figures, state),
    "redissync-metrics": lambda state, figures: metrics_families(state.read_json(METRICS_SUMMARY_FILE)),
    "redissync-sessions": lambda state, figures: sessions_families(state.read_json(SESSIONS_SUMMARY_FILE)),
}


def job_families(job: str, state: StateStore, figures: JobFigures) -> list[Family]:
    """The job's section: its runs, then what its own cached files say."""
    own = _OWN.get(job)
    return [*run_families(job, figures), *(own(state, figures) if own else [])]
