"""The diagnosis report, which the check job caches and the UI page reads (file names and shapes:
:mod:`.cached_files`).

The diagnosis (diagnose/) fills a :class:`Report` step by step; presentation never re-derives
anything: the check job stores :meth:`Report.to_dict` (plus a short latency history), bwcli prints
:meth:`Report.render_text` or :meth:`Report.to_json`, and the UI page calls :func:`ui_status` on the cached
dict. Nothing here ever holds a secret: steps carry sentences and facts, never credentials.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .cached_files import HISTORY_FILE, REPORT_FILE

SCHEMA = 1
HISTORY_LENGTH = 60  # one hour of the every-minute job

OK, FAIL, SKIP = "ok", "fail", "skip"
STATE_HEALTHY, STATE_WARNING, STATE_FAILED, STATE_DISABLED = "healthy", "warning", "failed", "disabled"

# Step ids: what diagnose/ writes and the page reads. A new step gets its id here, and joins the groups below.
CONFIG, DNS, TCP, TLS, AUTH, SELECT, PING, SERVER = "config", "dns", "tcp", "tls", "auth", "select", "ping", "server"
SENTINEL_DNS, SENTINEL_TCP, SENTINEL_TLS, SENTINEL_AUTH = "sentinel-dns", "sentinel-tcp", "sentinel-tls", "sentinel-auth"
SENTINEL_LOOKUP, SENTINEL_VIEWS, REPLICAS = "sentinel-lookup", "sentinel-views", "replicas"
SEED_DNS, SEED_TCP, SEED_TLS, SEED_AUTH = "seed-dns", "seed-tcp", "seed-tls", "seed-auth"
CLUSTER_INFO, CLUSTER_TOPOLOGY, CLUSTER_NODES, CLUSTER_CLIENT = "cluster-info", "cluster-topology", "cluster-nodes", "cluster-client"
# the steps that may drop a sentinel, in order (each one's details.sentinels says which, and why)
SENTINEL_STEPS = (SENTINEL_DNS, SENTINEL_TCP, SENTINEL_TLS, SENTINEL_AUTH, SENTINEL_LOOKUP)
# the steps whose warnings put a failover at risk while Redis still answers
REDUNDANCY_STEPS = frozenset({*SENTINEL_STEPS, SENTINEL_VIEWS, REPLICAS})
# the steps after which nothing of Redis was reached: a failure there is an outage, not a refusal
UNREACHABLE_STEPS = frozenset({DNS, TCP, TLS, SENTINEL_DNS, SENTINEL_TCP, SENTINEL_TLS, SENTINEL_LOOKUP, SEED_DNS, SEED_TCP, SEED_TLS})

_SETTING_NAME = re.compile(r"\b(?:USE_REDIS|REDIS_[A-Z_]+|SSL_CERT_FILE)\b")
_COLOURS = {OK: "\033[32m", FAIL: "\033[31m", SKIP: "\033[2m", "warn": "\033[33m", "bold": "\033[1m", "reset": "\033[0m"}
_MARKS = {OK: "✓", FAIL: "✗", SKIP: "–"}


def settings_named(sentence: str) -> list[str]:
    """The settings a sentence tells the user to change, in order of appearance (for the UI and tests)."""
    return list(dict.fromkeys(_SETTING_NAME.findall(sentence)))


@dataclass
class Step:
    """One timed step of the walk: what was checked, how long it took, what was seen or what is wrong."""

    id: str
    title: str
    status: str = OK
    duration_ms: float = 0.0
    summary: str = ""
    sentence: str | None = None  # the failure, in one sentence naming the setting(s) to change
    lines: list[str] = field(default_factory=list)  # per-host detail lines for the text view
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "summary": self.summary,
            "sentence": self.sentence,
            "settings": settings_named(self.sentence or ""),
            "lines": list(self.lines),
            "details": self.details,
            "warnings": list(self.warnings),
        }


@dataclass
class Report:
    """The whole diagnosis. ``healthy`` is false only when a step failed; warnings never fail it."""

    enabled: bool = True
    mode: str = "standalone"
    target: str = ""
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    duration_ms: float = 0.0
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    latency_ms: dict[str, float] | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # Settings.public(): secret-free by construction

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if step.status == FAIL), None)

    @property
    def healthy(self) -> bool:
        return self.failure is None

    @property
    def warnings(self) -> list[str]:
        return [warning for step in self.steps for warning in step.warnings]

    @property
    def state(self) -> str:
        if not self.enabled:
            return STATE_DISABLED
        if not self.healthy:
            return STATE_FAILED
        return STATE_WARNING if self.warnings else STATE_HEALTHY

    @property
    def headline(self) -> str:
        """The one line a log, a health check or the UI banner shows."""
        failure = self.failure
        if failure is not None:
            return failure.sentence or f"{failure.title} failed"
        if not self.enabled:
            return "USE_REDIS is not yes: redissync is disabled"
        latency = f", PING median {self.latency_ms['median']:.2f} ms" if self.latency_ms else ""
        warned = f" with {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"healthy{warned}: {self.target}{latency}"

    # -- JSON ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "schema": SCHEMA,
            "state": self.state,
            "healthy": self.healthy,
            "enabled": self.enabled,
            "headline": self.headline,
            "checked_at": self.checked_at,
            "duration_ms": round(self.duration_ms, 3),
            "mode": self.mode,
            "target": self.target,
            "failed_step": failure.id if failure else None,
            "failure": failure.sentence if failure else None,
            "failure_settings": settings_named(failure.sentence or "") if failure else [],
            "warnings": self.warnings,
            "notes": list(self.notes),
            "latency_ms": self.latency_ms,
            "facts": self.facts,
            "settings": self.settings,
            "steps": [step.to_dict() for step in self.steps],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    # -- text ---------------------------------------------------------------------------------------
    def render_text(self, colour: bool = False) -> str:
        def paint(kind: str, text: str) -> str:
            return f"{_COLOURS[kind]}{text}{_COLOURS['reset']}" if colour else text

        header = f"redissync check: {self.mode}, {self.target}" if self.enabled and self.target else "redissync check"
        out = [paint("bold", header)]
        width = max((len(step.title) for step in self.steps), default=10)
        for step in self.steps:
            timing = f"{step.duration_ms:8.1f} ms" if step.status != SKIP else " " * 11
            out.append(f"  {paint(step.status, _MARKS[step.status])} {step.title:<{width}} {timing}  {step.summary}".rstrip())
            out.extend(f"      {line}" for line in step.lines)
            if step.sentence:
                out.append("      " + paint(FAIL, step.sentence))
            out.extend("      " + paint("warn", f"! {warning}") for warning in step.warnings)
        out.extend(f"  note: {note}" for note in self.notes)
        if self.failure is not None:
            verdict = paint(FAIL, f"FAILED at {self.failure.title}") + f" ({self.duration_ms:.1f} ms): {self.failure.sentence}"
        elif not self.enabled:
            verdict = "disabled: USE_REDIS is not yes"
        elif self.warnings:
            verdict = paint("warn", f"healthy with {len(self.warnings)} warning(s)") + f" ({self.duration_ms:.1f} ms)"
        else:
            verdict = paint(OK, "healthy") + f" ({self.duration_ms:.1f} ms)"
        out.append(f"Result: {verdict}")
        return "\n".join(out)


# -- the cached status (UI) -----------------------------------------------------------------------------
def ui_status(cached: dict[str, Any] | None) -> dict[str, Any]:
    """What the UI page shows, from the cached ``check-report.json`` (tolerates a missing or older file)."""
    if not cached or cached.get("schema") != SCHEMA:
        return {"state": "unknown", "headline": "no diagnosis yet: the redissync-check job runs every minute", "steps": []}
    return {
        "state": cached["state"],
        "headline": cached["headline"],
        "checked_at": cached["checked_at"],
        "duration_ms": cached["duration_ms"],
        "target": cached["target"],
        "failure_settings": cached["failure_settings"],
        "warnings": cached["warnings"],
        "latency_ms": cached["latency_ms"],
        "facts": cached["facts"],
        "steps": [
            {key: step[key] for key in ("id", "title", "status", "duration_ms", "summary", "sentence")}
            for step in cached["steps"]
        ],
    }


def history_entry(report: Report) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": report.checked_at, "state": report.state, "duration_ms": round(report.duration_ms, 3)}
    if report.latency_ms:
        entry.update({f"ping_{key}_ms": value for key, value in report.latency_ms.items()})
    return entry


def record(report: Report, state: Any) -> list[dict[str, Any]]:
    """Store the report and append to the short latency history through a StateStore; returns the history."""
    state.write_json(REPORT_FILE, report.to_dict())
    history = state.read_json(HISTORY_FILE)
    history = history if isinstance(history, list) else []
    history = [*history, history_entry(report)][-HISTORY_LENGTH:]
    state.write_json(HISTORY_FILE, history)
    return history
