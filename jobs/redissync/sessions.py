"""Sessions in Redis: live counts per cookie and remaining lifetime, hygiene, and cluster-wide revoke.

lua-resty-session stores each BunkerWeb session as ``sessions_:<cookie name>:<id>`` (a STRING with a
TTL from the SESSIONS_* timeouts, docs/bunkerweb-data.md §sessions); the web UI keeps its own as
``bunkerweb_ui_session:<id>``. A session key without a TTL would outlive every timeout BunkerWeb
configures, so the hourly pass gives it the absolute lifetime BunkerWeb would have given it
(SESSIONS_ABSOLUTE_TIMEOUT, default 86400 s), with a script that only touches keys still without a
TTL. The UI's sessions are counted, never changed: their lifetime is the UI's own business.

Revoking (after a leaked SESSIONS_SECRET, or to log everyone out) UNLINKs in SCAN-sized batches, so
Redis frees memory in the background and never blocks on one huge command.

On a Redis Cluster every master is scanned in turn; a batch's scripts and UNLINKs go one hash slot at a time, in one
pipeline per master (keyspace.per_key_script, keyspace.unlink).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from .cached_files import SESSIONS_SUMMARY_FILE
from .core_settings import SESSIONS_ABSOLUTE_TIMEOUT
from .errors import CoreSettingError, RedisSyncError
from .keys import SESSION_PATTERN, SESSIONS_SUMMARY_KEY, UI_SESSION_PATTERN, parse_session_key
from .keyspace import expire_if_persistent, glob_escape, scan_nodes, types_and_ttls, unlink
from .settings import Settings
from .state import StateStore

SUMMARY_FILE = SESSIONS_SUMMARY_FILE
SUMMARY_TTL_S = 2 * 3600  # the job runs hourly: a summary older than two runs is gone
REVOKE_BATCH = 500
MAX_COOKIES = 100  # distinct cookie names reported; more are summed under "(other)"
BUCKETS = ((300, "<5m"), (1800, "5-30m"), (3600, "30m-1h"), (6 * 3600, "1-6h"), (24 * 3600, "6-24h"))
BUCKET_NAMES = (*(name for _, name in BUCKETS), ">24h", "no_ttl")


def bucket(ttl: int) -> str:
    """The remaining-lifetime bucket of a TTL in seconds (-1 = no TTL)."""
    if ttl < 0:
        return "no_ttl"
    for limit, name in BUCKETS:
        if ttl <= limit:
            return name
    return ">24h"


def _empty_buckets() -> dict[str, int]:
    return dict.fromkeys(BUCKET_NAMES, 0)


@dataclass
class SessionCounts:
    cookies: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    ui: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    no_ttl_found: int = 0
    bounded_now: int = 0

    def cookie_report(self) -> dict[str, dict[str, Any]]:
        ranked = sorted(self.cookies.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        report: dict[str, dict[str, Any]] = {}
        for index, (cookie, counts) in enumerate(ranked):
            name = cookie if index < MAX_COOKIES else "(other)"
            entry = report.setdefault(name, {"live": 0, "buckets": _empty_buckets()})
            for bucket_name, count in counts.items():
                entry["buckets"][bucket_name] += count
                entry["live"] += count
        return report


def count_sessions(client: Redis, absolute_timeout: int, fix: bool) -> SessionCounts:
    """Count every session; with ``fix``, bound BunkerWeb's sessions that have no TTL."""
    counts = SessionCounts()
    for batch in scan_nodes(client, SESSION_PATTERN):
        parsed = [(key, parse_session_key(key)) for key in batch]
        wanted = [(key, session) for key, session in parsed if session is not None]
        counts.malformed["unparsed_key"] += len(parsed) - len(wanted)
        if not wanted:
            continue
        persistent: list[tuple[bytes, str]] = []
        for (key, session), (kind, ttl) in zip(wanted, types_and_ttls(client, [key for key, _ in wanted]), strict=True):
            if kind == b"none" or ttl == -2:
                counts.malformed["vanished"] += 1
            elif kind != b"string":
                counts.malformed["wrong_type"] += 1  # not lua-resty-session's data: reported, never touched
            elif ttl == -1:
                counts.no_ttl_found += 1
                persistent.append((key, session.cookie))
            else:
                counts.cookies[session.cookie][bucket(ttl)] += 1
        bounded = [False] * len(persistent)
        if fix and absolute_timeout > 0 and persistent:
            bounded = expire_if_persistent(client, [key for key, _ in persistent], absolute_timeout)
        for (_, cookie), done in zip(persistent, bounded, strict=True):
            counts.bounded_now += done
            counts.cookies[cookie][bucket(absolute_timeout) if done else "no_ttl"] += 1
    for batch in scan_nodes(client, UI_SESSION_PATTERN):
        for kind, ttl in types_and_ttls(client, batch):
            if kind == b"none" or ttl == -2:
                counts.malformed["vanished"] += 1
            elif kind != b"string":
                counts.malformed["wrong_type"] += 1
            else:
                counts.ui[bucket(ttl)] += 1
    return counts


def build_summary(counts: SessionCounts, absolute_timeout: int, fixed: bool, now: float) -> dict[str, Any]:
    cookies = counts.cookie_report()
    totals = _empty_buckets()
    for entry in cookies.values():
        for name, count in entry["buckets"].items():
            totals[name] += count
    ui = {"live": sum(counts.ui.values()), "buckets": {name: counts.ui.get(name, 0) for name in BUCKET_NAMES}}
    summary = {
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "live": sum(entry["live"] for entry in cookies.values()),
        "cookies": cookies,
        "buckets": totals,
        "ui": ui,
        "no_ttl_found": counts.no_ttl_found,
        "bounded_now": counts.bounded_now,
        "bounding_applied": fixed,
        "absolute_timeout_s": absolute_timeout,
        "malformed": {name: counts.malformed.get(name, 0) for name in ("unparsed_key", "wrong_type", "vanished")},
    }
    summary["summary"] = summary_line(summary)
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    cookies = ", ".join(f"{name} {entry['live']}" for name, entry in list(summary["cookies"].items())[:5]) or "none"
    line = f"{summary['live']} live sessions ({cookies}), {summary['ui']['live']} web UI sessions"
    if summary["no_ttl_found"]:
        if summary["bounding_applied"] and summary["absolute_timeout_s"] > 0:
            line += f"; {summary['bounded_now']} without TTL given SESSIONS_ABSOLUTE_TIMEOUT={summary['absolute_timeout_s']}s"
        else:
            line += f"; {summary['no_ttl_found']} without TTL left as they are"
    malformed = summary["malformed"]["unparsed_key"] + summary["malformed"]["wrong_type"]
    if malformed:
        line += f"; {malformed} malformed skipped"
    return line


def absolute_timeout(env: Mapping[str, str]) -> int:
    try:
        return SESSIONS_ABSOLUTE_TIMEOUT.read(env)
    except CoreSettingError as error:
        raise RedisSyncError(str(error)) from None


def session_stats(client: Redis, env: Mapping[str, str], fix: bool = False, now: float | None = None) -> dict[str, Any]:
    """The summary of every session (read only unless ``fix``); ``env`` holds SESSIONS_ABSOLUTE_TIMEOUT when set
    (``Settings.core_env``)."""
    timeout = absolute_timeout(env)
    counts = count_sessions(client, timeout, fix)
    return build_summary(counts, timeout, fix, time.time() if now is None else now)


def one_pass(settings: Settings, client: Redis, state: StateStore, logger: logging.Logger, *, env: dict[str, str] | None = None) -> str:
    """The hourly job: count, bound the sessions without TTL, publish the summary."""
    summary = session_stats(client, settings.core_env if env is None else env, fix=True)
    encoded = json.dumps(summary, separators=(",", ":"), sort_keys=True).encode()
    client.set(SESSIONS_SUMMARY_KEY, encoded, ex=SUMMARY_TTL_S)
    state.write(SUMMARY_FILE, encoded)
    if summary["absolute_timeout_s"] == 0 and summary["no_ttl_found"]:
        logger.warning("SESSIONS_ABSOLUTE_TIMEOUT=0 disables the absolute lifetime: sessions without a TTL were left as they are")
    return str(summary["summary"])


@dataclass
class RevokeResult:
    cookie: str | None
    matched: int = 0
    deleted: int = 0
    applied: bool = False
    per_cookie: Counter[str] = field(default_factory=Counter)


def revoke_sessions(client: Redis, cookie: str | None = None, apply: bool = False, batch_size: int = REVOKE_BATCH,
                    progress: Callable[[RevokeResult], None] | None = None) -> RevokeResult:
    """Every BunkerWeb session (or one cookie's): counted, and UNLINKed batch by batch with ``apply``."""
    pattern = SESSION_PATTERN if cookie is None else f"sessions_:{glob_escape(cookie)}:*"
    result = RevokeResult(cookie, applied=apply)
    for batch in scan_nodes(client, pattern, batch_size=batch_size):
        chosen = []
        for key in batch:
            session = parse_session_key(key)
            if session is not None and (cookie is None or session.cookie == cookie):
                chosen.append(key)
                result.per_cookie[session.cookie] += 1
        result.matched += len(chosen)
        if apply and chosen:
            result.deleted += unlink(client, chosen)
        if progress is not None:
            progress(result)
    return result
