"""The web UI page's logic: gather the cached reports and each instance's view into one view model.

Inside BunkerWeb the UI container cannot read the scheduler's (1.7: the worker's) files: ``sources`` reads the
settings and reports from BunkerWeb's database (1.6) or API (1.7), elsewhere from ``REDISSYNC_STATE_DIR``.
Nothing here raises: a failing part becomes a generic message on the page and the detail in the log,
and the detail never carries a secret (known secret values are masked before logging). When BunkerWeb's
database or API does not answer, the whole page says so instead of guessing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from ..cached_files import (
    BANS_SUMMARY_FILE,
    HISTORY_FILE,
    METRICS_SUMMARY_FILE,
    REPORT_FILE,
    REPORT_JOBS,
    SESSIONS_SUMMARY_FILE,
    run_record_file,
)
from ..errors import BunkerWebUnavailable, SettingsError
from ..redaction import is_secret_name, redact
from ..settings import Settings, load_settings
from . import sections, shards, topology
from .format import DASH, age, dig, epoch, first, text, when
from .outage import Failure, current_failure, mark_stale
from .sources import PLUGIN_ID, configuration, decode_json, report_source

GENERIC_ERROR = "Could not read this part of the status; the web UI's log has the details."
REPORTS = REPORT_JOBS
JOBS = ("redissync-check", "redissync-bans", "redissync-metrics", "redissync-sessions")
STATS_ENDPOINT = f"{PLUGIN_ID}/stats"
ERROR_SECTION = object()  # Page.part's default fallback: the generic error section


# -- one page --------------------------------------------------------------------------------------
class Page:
    """Collects the sections; every part runs through :meth:`part`, which turns an exception into a
    generic section and one log line (type and masked message)."""

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...] = ()):
        self.logger = logger
        self.secrets = secrets
        self.errors: list[str] = []

    def part(self, name: str, build: Callable[[], Any], fallback: Any = ERROR_SECTION) -> Any:
        try:
            return build()
        except BunkerWebUnavailable:  # not this part's failure: BunkerWeb's database or API is down, the page says so
            raise
        except Exception as error:  # the page must render whatever one part does
            detail = redact(f"{type(error).__name__}: {error}", self.secrets)
            self.logger.error(f"redissync UI: could not build the {name} section ({detail})")
            self.errors.append(name)
            return {"state": "error", "message": GENERIC_ERROR} if fallback is ERROR_SECTION else fallback


def load_public_settings(env: Mapping[str, str]) -> tuple[Settings | None, dict[str, Any]]:
    try:
        settings = load_settings(env)
    except SettingsError as error:
        return None, {"state": "error", "message": "Invalid Redis settings: " + "; ".join(str(p) for p in error.problems[:5])}
    return settings, settings.public()


def instances(utils: Any) -> dict[str, Any]:
    """Each BunkerWeb instance's own view: ``POST /redissync/ping`` and ``GET /redissync/stats``. BunkerWeb's
    ``InstancesUtils`` catches each instance's failure itself; it raises only when it cannot list the instances
    (its database, 1.6, or bw-api, 1.7): then the section is an error, never "no instance answered"."""
    if utils is None:
        return {"state": "na", "message": "Instance views appear inside BunkerWeb's web UI."}
    ping = utils.get_ping(PLUGIN_ID)
    stats = utils.get_data(STATS_ENDPOINT)
    rows = []
    for entry in stats if isinstance(stats, list) else []:
        if not isinstance(entry, dict):
            continue
        for host, message in entry.items():
            rows.append(_instance_row(text(host, 120), message))
    ping_ok = isinstance(ping, dict) and ping.get("status") == "success"
    if not rows:
        message = ("At least one instance reaches Redis." if ping_ok
                   else "No instance answered POST /redissync/ping (none up, or the plugin's Lua part is not loaded yet).")
        return {"state": "ok" if ping_ok else "empty", "ping_ok": ping_ok, "rows": [], "message": message}
    return {"state": "ok", "ping_ok": ping_ok, "rows": rows,
            "reaching": f"{sum(1 for row in rows if row['ok'])}/{len(rows)}"}


STAT_LABELS = (("target", "target"), ("role", "role"), ("dbsize", "keys"), ("used_memory_human", "memory"),
               ("server", "server"), ("latency_ms", "PING ms"))


def _instance_row(host: str, message: Any) -> dict[str, Any]:
    """One instance's answer to ``GET /redissync/stats`` (redissync.lua ``stats()``), or BunkerWeb's
    ``{"status": "error"}`` when the instance could not reach Redis or did not answer."""
    if isinstance(message, str):
        message = decode_json(message) or {"detail": message}
    if not isinstance(message, dict):
        return {"host": host, "ok": False, "facts": [], "detail": "unexpected answer"}
    failed = message.get("status") == "error" or message.get("ok") is False
    facts = [(label, text(message[name], 80)) for name, label in STAT_LABELS if message.get(name) not in (None, "")]
    known = {name for name, _ in STAT_LABELS} | {"status", "ok", "error", "msg", "used_memory", "version"}
    facts += [(text(name, 40).replace("_", " "), text(value, 80)) for name, value in message.items()
              if name not in known and not isinstance(value, dict | list) and not is_secret_name(name)]
    detail = text(first(message, "error", "msg", default=""), 200)
    return {"host": host, "ok": not failed, "facts": facts[:6],
            "detail": detail or ("could not reach Redis (or did not answer)" if failed else "")}


def job_runs(reports: dict[str, Any], failure: Failure | None, now: float) -> dict[str, Any]:
    """Each job's last run from redissync's own records, never from BunkerWeb's job-run records: once one job
    of a batch has failed, BunkerWeb's ``JobScheduler.__job_wrapper`` (src/scheduler/JobScheduler.py) records
    the batch's later failures as successes. A success older than the current failure is not shown green."""
    rows = []
    for job in JOBS:
        record = _own_record(job, reports)
        stamp = record.get("at")
        ok = record.get("ok")
        stale = bool(ok) and failure is not None and (epoch(stamp) or 0) < failure.since
        rows.append({"job": job, "when": age(stamp, now) if stamp else "never", "at": when(stamp),
                     "ok": None if stale else ok, "stale": stale,
                     "detail": ("succeeded before the failure began; " if stale else "") + text(record.get("line"), 200)
                     if record else "no run recorded yet"})
    return {"state": "ok", "rows": rows}


def _own_record(job: str, reports: dict[str, Any]) -> dict[str, Any]:
    """``{"at", "ok", "line"}``: the job's run record, or for the check job its report (written every run)."""
    if job == "redissync-check":
        check = reports.get(REPORT_FILE)
        if not isinstance(check, dict):
            return {}
        return {"at": check.get("checked_at"), "ok": check.get("state") != "failed", "line": check.get("headline")}
    record = reports.get(run_record_file(job))
    if not isinstance(record, dict) or not isinstance(record.get("ok"), bool):
        return {}
    return {"at": record.get("at"), "ok": record["ok"], "line": record.get("line")}


def gather(db: Any = None, bw_instances_utils: Any = None, env: Mapping[str, str] | None = None,
           logger: logging.Logger | None = None, now: float | None = None, api: Any = None) -> dict[str, Any]:
    """The whole view model for ``template.html``; never raises. ``db``: BunkerWeb 1.6's database; ``api``:
    1.7's API client, used when ``db`` is None (``sources``)."""
    logger = logger or logging.getLogger("REDISSYNC-UI")
    now = time.time() if now is None else now
    page = Page(logger)
    settings: Settings | None = None
    public: dict[str, Any] = {}
    try:
        config = configuration(db, env, api)
        settings, public = page.part("settings", lambda: load_public_settings(config), fallback=(None, {}))
        if settings is not None:
            page.secrets = (settings.password, settings.sentinel_password)
        source = report_source(db, config, api)
        reports: dict[str, Any] = {
            name: page.part(f"report {name}", partial(source.read, name), fallback=None) for name in REPORTS}
    except BunkerWebUnavailable as unavailable:
        cause = unavailable.__cause__
        detail = redact(f"{type(cause).__name__}: {cause}", page.secrets) if cause else unavailable.reason
        logger.error(f"redissync UI: {unavailable.title} ({detail})")
        return unavailable_view(unavailable, now, public if settings is not None else None)
    check, history = reports[REPORT_FILE], reports[HISTORY_FILE]
    metrics, bans, sessions = reports[METRICS_SUMMARY_FILE], reports[BANS_SUMMARY_FILE], reports[SESSIONS_SUMMARY_FILE]
    # USE_REDIS=no is said from the live settings, not from a report cached while Redis was on (nor a failure).
    verdict = check if settings is None or settings.enabled else {"state": "disabled"}
    failure = page.part("failure", lambda: current_failure(verdict, history), fallback=False) or None
    live_public = public if settings is not None else None
    sentinel_addresses = [str(address) for address in settings.sentinels] if settings is not None else []

    def stale(section: dict[str, Any], built_at: Any) -> dict[str, Any]:
        return mark_stale(section, built_at, failure, now)

    view = {
        "plugin": PLUGIN_ID,
        "generated_at": when(now),
        "source": source.label,
        "health": page.part("health", lambda: sections.health(verdict, now, failure)),
        "steps": page.part("steps", lambda: sections.steps(check)),
        "connection": (public if settings is None and public else page.part("connection", lambda: sections.connection(live_public, check))),
        "topology": page.part("topology", lambda: topology.topology(check, live_public, sentinel_addresses)),
        "shards": page.part("shards", lambda: shards.shards(check, live_public)),
        "instances": page.part("instances", lambda: instances(bw_instances_utils)),
        "keyspace": page.part("keyspace", lambda: stale(sections.keyspace(metrics, now), dig(metrics, "generated_at"))),
        "trends": page.part("trends", lambda: stale(sections.trends(history, metrics), dig(metrics, "generated_at"))),
        "bans": page.part("bans", lambda: stale(sections.bans(bans, now), dig(bans, "updated_ms"))),
        "sessions": page.part("sessions", lambda: stale(sections.sessions(sessions, now), dig(sessions, "generated_at"))),
        "jobs": page.part("job runs", lambda: job_runs(reports, failure, now)),
        "inside_bunkerweb": bw_instances_utils is not None,
    }
    view["errors"] = [GENERIC_ERROR] if page.errors else []
    return view


def unavailable_view(unavailable: BunkerWebUnavailable, now: float, public: dict[str, Any] | None) -> dict[str, Any]:
    """The page when BunkerWeb's database or API did not answer: it says that, and nothing about Redis it could
    only guess (an empty configuration would read as "Redis is off"). The instances are not asked either: in
    BunkerWeb they are listed through the same database or API."""
    missing = {"state": "unavailable", "message": f"Not available: {unavailable.title}."}
    return {
        "plugin": PLUGIN_ID,
        "generated_at": when(now),
        "source": unavailable.source,
        "health": {"state": "unavailable", "title": unavailable.title, "sentence": unavailable.sentence,
                   "checked": "unknown", "checked_at": DASH, "stale": False, "settings": [], "warnings": [], "notes": []},
        "connection": sections.connection(public, None) if public else missing,
        "topology": {"state": "na"},
        **dict.fromkeys(("steps", "instances", "keyspace", "trends", "bans", "sessions", "jobs"), missing),
        "errors": [],
    }


def safe_gather(**kwargs: Any) -> dict[str, Any]:
    """:func:`gather` with a last line of defence: a page with one generic message rather than a traceback."""
    logger = kwargs.get("logger") or logging.getLogger("REDISSYNC-UI")
    try:
        return gather(**kwargs)
    except Exception as error:
        logger.error(f"redissync UI: the page could not be prepared ({type(error).__name__})")
        return {"plugin": PLUGIN_ID, "errors": [GENERIC_ERROR], "health": {"state": "unknown", "title": "Status unavailable",
                "sentence": GENERIC_ERROR, "checked": "never", "checked_at": DASH, "stale": False, "settings": []}}
