"""Cached reports → the sections of the UI page (pure functions: dicts in, plain dicts out).

Each builder takes the report another job cached (or None when that job has not run yet) and returns a
section with a ``state``: ``ok`` (draw it), ``empty`` (the report is missing: say which job fills it and
when) or ``error`` (set by the caller when reading failed). Fields are read through :mod:`.format`,
so a report from an older or newer job version degrades to "—" rather than breaking the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..bans.summary import instances_line, pass_line
from ..reports import REDUNDANCY_STEPS
from .format import (
    DASH,
    age,
    count,
    dig,
    duration,
    epoch,
    first,
    milliseconds,
    number,
    rate,
    size,
    text,
    when,
)
from .outage import Failure
from .sparkline import sparkline

STALE_AFTER_S = 300  # jobs run every minute: five missed runs means the scheduler is not running them
CATEGORY_LABELS = {"bans": "Bans", "sessions": "Sessions", "metrics": "Metrics", "counters": "Counters", "other": "Other"}


def empty(message: str) -> dict[str, Any]:
    return {"state": "empty", "message": message}


def no_report(job: str, what: str, cadence: str = "every minute") -> dict[str, Any]:
    return empty(f"No data yet: {what} will show after the first run of {job} (it runs {cadence} on the scheduler).")


# -- health banner ------------------------------------------------------------------------------------
def health(check: dict[str, Any] | None, now: float, outage: Failure | None = None) -> dict[str, Any]:
    """The banner: healthy, warning, failed (since when, with the first failing step's sentence), disabled
    or unknown."""
    if not isinstance(check, dict):
        return {"state": "unknown", "title": "No diagnosis yet",
                "sentence": "The redissync-check job has not cached a report yet; it runs every minute on the scheduler.",
                "checked": "never", "checked_at": DASH, "stale": False, "settings": []}
    state = text(check.get("state")) or ("healthy" if check.get("healthy") else "failed")
    checked_epoch = epoch(check.get("checked_at"))
    stale = checked_epoch is not None and now - checked_epoch > STALE_AFTER_S
    failure = text(first(check, "failure", default=""), 600)
    if state == "failed":
        step = next((s for s in check.get("steps") or [] if isinstance(s, dict) and s.get("status") == "fail"), {})
        title = outage.title(now) if outage else f"Failed: {text(step.get('title')) or 'a check'} failed"
        sentence = failure or text(step.get("sentence"), 600) or text(check.get("headline"), 600)
    elif state == "disabled":
        title, sentence = "Redis is off", ("USE_REDIS is no, so BunkerWeb shares nothing through Redis and redissync has "
                                           "nothing to do. Turn it on with USE_REDIS=yes (BunkerWeb's Redis settings).")
    elif state == "warning":
        title, sentence = "Healthy, with warnings", _reached(check)
        step, warning = _first_redundancy_warning(check)
        if warning:
            title, sentence = f"Degraded redundancy: {text(step.get('title'), 60)}", warning
    else:
        state, title, sentence = "healthy", "Healthy", _reached(check)
    return {
        "state": state,
        "title": title,
        "sentence": sentence,
        "checked": age(check.get("checked_at"), now),
        "checked_at": when(check.get("checked_at")),
        "stale": stale,
        "settings": [text(name, 60) for name in check.get("failure_settings") or [] if isinstance(name, str)],
        "warnings": [text(w, 400) for w in check.get("warnings") or [] if text(w, 600) != sentence][:10],
        "reached": _reached(check) if state in ("healthy", "warning") else "",
        "notes": [text(n, 400) for n in check.get("notes") or []][:10],
    }


def _first_redundancy_warning(check: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A sentinel or replica problem: Redis still answers, but a failover would be at risk."""
    for step in check.get("steps") or []:
        if isinstance(step, dict) and str(step.get("id")) in REDUNDANCY_STEPS:
            for warning in step.get("warnings") or []:
                return step, text(warning, 600)
    return {}, ""


def _reached(check: dict[str, Any]) -> str:
    target = text(check.get("target"), 300)
    median = number(dig(check, "latency_ms", "median"))
    latency = f", PING median {median:.2f} ms" if median is not None else ""
    return f"Redis answers at {target}{latency}." if target else text(check.get("headline"), 600)


def steps(check: dict[str, Any] | None) -> dict[str, Any]:
    rows = []
    for step in (check or {}).get("steps") or []:
        if not isinstance(step, dict):
            continue
        rows.append({
            "title": text(step.get("title") or step.get("id"), 80),
            "status": text(step.get("status")) or "skip",
            "duration": milliseconds(step.get("duration_ms")) if step.get("status") != "skip" else "",
            "summary": text(step.get("summary"), 300),
            "sentence": text(step.get("sentence"), 600),
            "warnings": [text(w, 400) for w in step.get("warnings") or []][:5],
        })
    if not rows:
        return no_report("redissync-check", "the diagnosis")
    return {"state": "ok", "rows": rows, "duration": milliseconds(dig(check, "duration_ms"))}


# -- connection card ----------------------------------------------------------------------------------
def connection(public: dict[str, Any] | None, check: dict[str, Any] | None) -> dict[str, Any]:
    """Mode, target, TLS and verification, units: from ``Settings.public()`` (secret-free by construction).
    Live settings win; the report's copy is the fallback when the UI cannot read the configuration."""
    source = public if isinstance(public, dict) and public else dig(check, "settings", default={})
    if not isinstance(source, dict) or not source:
        return empty("No connection settings could be read yet.")
    tls = bool(source.get("tls"))
    verify = bool(source.get("tls_verify"))
    rows = [
        ("Mode", {"sentinel": "Sentinel", "cluster": "Redis Cluster"}.get(str(source.get("mode")), "Standalone")),
        ("Target", text(source.get("target"), 200) or DASH),
        ("Database", text(source.get("database")) or "0"),
        ("TLS", ("on, certificate and hostname verified" if verify else "on, NOT verified (REDIS_SSL_VERIFY=no)") if tls else "off"),
        ("Authentication", _auth(source.get("username"), source.get("password_set"))),
    ]
    if source.get("mode") == "sentinel":
        rows.append(("Sentinel master", text(source.get("sentinel_master")) or DASH))
        rows.append(("Sentinel auth", _auth(source.get("sentinel_username"), source.get("sentinel_password_set"))))
    timeout = number(source.get("timeout_s"))
    in_ms = "milliseconds" in str(source.get("units"))
    rows.append(("Timeout", DASH if timeout is None else f"{timeout * 1000:g} ms" if in_ms else f"{timeout:g} s"))
    rows.append(("Pool", f"{count(source.get('keepalive_pool'))} connections per worker"))
    rows.append(("Units rule", "REDIS_TIMEOUT / REDIS_KEEPALIVE_IDLE in " + (text(source.get("units"), 120) or "seconds")))
    return {"state": "ok", "rows": rows, "mode": source.get("mode") or "standalone", "tls": tls, "tls_verify": verify}


def _auth(username: Any, password_set: Any) -> str:
    user = text(username, 80)
    if password_set:
        return f"user {user}, password set" if user else "password set"
    return f"user {user}, no password" if user else "none"


# -- keyspace and trends (metrics job) --------------------------------------------------------------------
def keyspace(metrics: dict[str, Any] | None, now: float | None = None) -> dict[str, Any]:
    per_category = dig(metrics, "server", "keys", default=None)
    if not isinstance(per_category, dict):
        return no_report("redissync-metrics", "the keyspace by category")
    values = {name: int(number(value) or 0) for name, value in per_category.items()}
    total = sum(values.values())
    rows = [{"category": CATEGORY_LABELS.get(name, text(name, 40)), "count": count(keys),
             "share": round(100 * keys / total, 1) if total else 0.0}
            for name, keys in sorted(values.items(), key=lambda item: -item[1])]
    facts = [("Memory", size(dig(metrics, "server", "mem"))), ("Clients", count(dig(metrics, "server", "clients"))),
             ("Hit ratio", _percent(dig(metrics, "server", "hit"))), ("Role", text(dig(metrics, "server", "role")) or DASH)]
    return {"state": "ok", "rows": rows, "total": count(total), "facts": facts,
            "updated": age(dig(metrics, "generated_at"), now)}


def _percent(value: Any) -> str:
    ratio = number(value)
    return DASH if ratio is None else f"{ratio * 100:.1f} %"


def trends(history: list[Any] | None, metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Latency from the check job's history, ops/s and memory from the metrics job's 24 h series."""
    charts = []
    if isinstance(history, list) and history:
        entries = [entry for entry in history if isinstance(entry, dict)]
        latency = [entry.get("ping_median_ms") for entry in entries]
        if any(number(value) is not None for value in latency):
            charts.append(_chart("PING latency (median)", latency, milliseconds, f"last {len(entries)} checks"))
    series = dig(metrics, "series", default={})
    if isinstance(series, dict) and series.get("t"):
        span = f"last {len(series['t'])} min"
        charts.append(_chart("Operations per second", series.get("ops") or [], rate, span))
        charts.append(_chart("Memory used", series.get("mem") or [], size, span))
        keys = dig(series, "keys", default={})
        if isinstance(keys, dict) and keys:
            totals = [sum(int(number(column[i]) or 0) for column in keys.values() if isinstance(column, list) and i < len(column))
                      for i in range(len(series["t"]))]
            charts.append(_chart("Keys", totals, count, span))
    if not charts:
        return no_report("redissync-check and redissync-metrics", "the trends")
    return {"state": "ok", "charts": charts}


def _chart(title: str, values: list[Any], formatter: Callable[[Any], str], span: str, floor_zero: bool = True) -> dict[str, Any]:
    line = sparkline(values, floor_zero=floor_zero)
    return {"title": title, "spark": line, "last": formatter(line.last), "low": formatter(line.minimum),
            "high": formatter(line.maximum), "span": span}


# -- bans and sessions ----------------------------------------------------------------------------------
def bans(summary: dict[str, Any] | None, now: float | None = None) -> dict[str, Any]:
    if not isinstance(summary, dict):
        return no_report("redissync-bans", "the ban summary")
    # Only the fields bans/summary.py writes (cached_files.BansSummary; each recent ban is Entry.as_dict()).
    scopes = _counts(summary.get("by_scope") or {})
    reasons = _counts(summary.get("by_reason") or {})
    recent = []
    for ban in (summary.get("recent") or [])[:20]:
        if not isinstance(ban, dict):
            continue
        ttl_ms = number(ban.get("ttl_ms"))
        recent.append({
            "ip": text(ban.get("ip"), 64),
            "scope": text(ban.get("scope"), 20) or "global",
            "service": text(ban.get("service"), 80) or DASH,
            "reason": text(ban.get("reason"), 80) or DASH,
            "date": when(ban.get("date")),
            "expires": "permanent" if ban.get("permanent") else duration(None if ttl_ms is None else ttl_ms / 1000),
        })
    last = summary.get("last_pass")
    last = last if isinstance(last, dict) else {}
    updated = number(summary.get("updated_ms"))
    updated = updated / 1000 if updated is not None else None
    return {
        "state": "ok",
        "total": count(sum(int(number(v) or 0) for _, v in scopes)),
        "scopes": [(name, count(value)) for name, value in scopes],
        "reasons": [(name, count(value)) for name, value in reasons[:8]],
        "recent": recent,
        "last_pass": {
            "ok": bool(first(last, "ok", default=not last.get("error"))),
            "summary": _pass_line(last),
            "when": age(updated, now),
        },
        "updated": age(updated, now),
    }


def _pass_line(last: dict[str, Any]) -> str:
    """The last reconcile pass in one line (the bans job's PassResult fields)."""
    if last.get("skipped"):
        return "skipped: " + text(last["skipped"], 200)
    if last.get("error"):
        return f"failed ({text(last['error'], 80)}): see the scheduler's log for redissync-bans"
    if not last:
        return DASH
    instances = last.get("instances")
    return text(pass_line(last, instances_line(instances) if isinstance(instances, dict) else ""), 600)


def _counts(value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        return []
    return sorted(((text(name, 80), number(n) or 0) for name, n in value.items()), key=lambda item: -item[1])


def sessions(summary: dict[str, Any] | None, now: float | None = None) -> dict[str, Any]:
    if not isinstance(summary, dict):
        return no_report("redissync-sessions", "the session summary", "every hour")
    cookies = first(summary, "cookies", default={})
    cookies = cookies if isinstance(cookies, dict) else {}
    rows = [("Live sessions", count(summary.get("live"))), ("Web UI sessions", count(dig(summary, "ui", "live")))]
    for name, entry in sorted(cookies.items(), key=lambda item: -(number(dig(item[1], "live")) or 0))[:4]:
        rows.append((f"Cookie {text(name, 40)}", count(dig(entry, "live"))))
    rows.append(("Without TTL", count(summary.get("no_ttl_found"))))
    timeout = number(summary.get("absolute_timeout_s"))
    if timeout is not None:
        rows.append(("Absolute lifetime", f"{timeout:g} s (SESSIONS_ABSOLUTE_TIMEOUT)"))
    buckets = first(summary, "buckets", default={})
    lifetimes = [(text(name, 20).replace("_", " "), count(value)) for name, value in buckets.items()] if isinstance(buckets, dict) else []
    return {"state": "ok", "rows": rows, "lifetimes": lifetimes, "summary": text(summary.get("summary"), 300),
            "updated": age(summary.get("generated_at"), now)}
