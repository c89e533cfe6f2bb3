"""Bans in and out of the journal as JSON lines: ``bans export`` / ``bans import`` (BunkerWeb #3311).

One JSON object per line, as :meth:`Entry.as_dict` writes it: ``key`` and ``value`` (binary as
``base64:…``), ``expires_ms`` (absolute epoch ms, ``null`` = permanent). Import also accepts lines written
by hand or by other tools: ``ip`` [+ ``service``] instead of ``key``; ``value`` as an object (BunkerWeb's
ban JSON) or ``reason``; ``ttl_ms`` or ``ttl`` (seconds) instead of ``expires_ms``; ``permanent``.
Restores use SET NX with the remaining TTL, under the current mode's key names (Redis Cluster or not): a ban
already in Redis is never overwritten. A CrowdSec lease (a ``bans_cs_…``/``cs_epoch_…`` key, or a row or value of
``kind`` ``crowdsec_lease``, as a dump of 1.6.16's ``GET /bans`` holds) is skipped and counted: only CrowdSec
writes leases (docs/bans.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from ..clock import now_ms
from ..keys import BanKey, ban_key_in, is_crowdsec_key, is_lease, parse_ban_key
from ..keyspace import is_cluster
from ..net import normalize_ip
from .entry import Entry, classify, from_text
from .journal import Journal
from .writeback import expired, restore

PROGRESS_STEP = 10_000  # bans written between two progress updates of `bans import` (one streamed restore)


def export_lines(journal: Journal, ip: str | None = None, service: str | None = None) -> Iterator[str]:
    """Live journaled bans as JSON lines (expired ones are not worth migrating)."""
    stamp = now_ms()
    for entry in journal.entries(ip=ip, service=service, live_at_ms=stamp):
        yield json.dumps(entry.as_dict(stamp), sort_keys=True, separators=(",", ":"))


ERRORS_SHOWN = 20  # bad lines reported one by one; the rest are counted


@dataclass
class ImportFile:
    """A file read and checked before anything is written: the bans to restore and what was wrong."""

    entries: list[Entry] = field(default_factory=list)
    lines: int = 0
    expired: int = 0
    invalid: int = 0
    leases: int = 0  # CrowdSec leases in the file: skipped
    errors: list[str] = field(default_factory=list)  # "line 12: not JSON", the first ERRORS_SHOWN

    def error_lines(self) -> list[str]:
        more = self.invalid - len(self.errors)
        return [*self.errors, *([f"… and {more} more invalid line{'s' if more > 1 else ''}"] if more > 0 else [])]


@dataclass
class ImportResult:
    restored: int = 0
    present: int = 0
    expired: int = 0
    invalid: int = 0
    leases: int = 0

    def line(self) -> str:
        return (f"{self.restored} bans restored, {self.present} already in Redis (kept), "
                f"{self.expired} expired (skipped), {self.invalid} invalid lines (skipped)"
                + (f", {self.leases} CrowdSec leases (skipped: managed by CrowdSec)" if self.leases else ""))


def parse_line(line: str, stamp: int) -> Entry | None:
    """One import line → an Entry, or None for a CrowdSec lease (never imported); ValueError with a short reason
    (never the line itself) when invalid."""
    try:
        data = json.loads(line)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    value = data.get("value", None)
    key_text = data.get("key")
    if is_lease(data) or (isinstance(value, dict) and is_lease(value)) or (isinstance(key_text, str) and is_crowdsec_key(key_text)):
        return None
    key = _key(data)
    if isinstance(value, (dict, list)):
        raw = json.dumps(value, separators=(",", ":")).encode()
    elif isinstance(value, str):
        raw = from_text(value)
        if b"crowdsec_lease" in raw and _lease_text(raw):
            return None
    elif value is None and isinstance(data.get("reason"), str):
        raw = json.dumps(_bunkerweb_value(data, key, stamp), separators=(",", ":")).encode()
    else:
        raise ValueError("no value or reason")
    return classify(key, raw, _expires(data, stamp), stamp)


def _lease_text(raw: bytes) -> bool:
    try:
        value = json.loads(raw)
    except ValueError:
        return False
    return isinstance(value, dict) and is_lease(value)


def _key(data: dict[str, Any]) -> bytes:
    if isinstance(data.get("key"), str):
        key = from_text(data["key"])
        if parse_ban_key(key) is None and not key.startswith(b"bans_"):
            raise ValueError("key is not a BunkerWeb ban key")
        return key
    ip = data.get("ip")
    if not isinstance(ip, str) or normalize_ip(ip) is None:
        raise ValueError("no key and no valid ip")
    scope = data.get("ban_scope", data.get("scope"))
    service = data.get("service") if scope == "service" and isinstance(data.get("service"), str) else None
    return BanKey(ip, service or None).key.encode()


def _bunkerweb_value(data: dict[str, Any], key: bytes, stamp: int) -> dict[str, Any]:
    parsed = parse_ban_key(key)
    return {
        "reason": data["reason"],
        "service": (parsed.service if parsed and parsed.service else data.get("service") or "unknown"),
        "date": data.get("date", stamp // 1000),
        "country": data.get("country", "local"),
        "ban_scope": parsed.scope if parsed else "global",
        "reason_data": data.get("reason_data", {}),
        "permanent": bool(data.get("permanent", False)),
    }


def _expires(data: dict[str, Any], stamp: int) -> int | None:
    if "expires_ms" in data:
        value = data["expires_ms"]
        if value is None:
            return None
        return int(value)
    if "ttl_ms" in data and data["ttl_ms"] is not None:
        return stamp + int(data["ttl_ms"])
    if "ttl" in data and data["ttl"] is not None and int(data["ttl"]) > 0:
        return stamp + int(data["ttl"]) * 1000
    if data.get("permanent") is True:
        return None
    raise ValueError("no expires_ms, ttl_ms, ttl or permanent")


def read_import(lines: Iterable[str], limit: int = ERRORS_SHOWN) -> ImportFile:
    """Parse every line (blank ones skipped); bad lines are counted and the first ``limit`` described."""
    checked = ImportFile()
    for number, line in enumerate(lines, 1):
        checked.lines = number
        if not line.strip():
            continue
        stamp = now_ms()
        try:
            entry = parse_line(line, stamp)
        except (ValueError, TypeError) as error:
            checked.invalid += 1
            if len(checked.errors) < limit:
                checked.errors.append(f"line {number}: {error}")
            continue
        if entry is None:
            checked.leases += 1
        elif expired(entry.expires_ms, stamp):
            checked.expired += 1
        else:
            checked.entries.append(entry)
    return checked


def import_entries(client: Redis, checked: ImportFile, progress: Callable[[int], None] | None = None) -> ImportResult:
    """Restore the checked file's bans with SET NX + remaining TTL, each under the name of the mode ``client`` is in
    (a file exported before a switch to or from a Redis Cluster names its bans the old way). Progress is reported
    every :data:`PROGRESS_STEP` bans: each step is one streamed restore of several batches, not one round trip each."""
    result = ImportResult(expired=checked.expired, invalid=checked.invalid, leases=checked.leases)
    cluster = is_cluster(client)
    for start in range(0, len(checked.entries), PROGRESS_STEP):
        step = [entry._replace(key=ban_key_in(entry.key, cluster)) for entry in checked.entries[start:start + PROGRESS_STEP]]
        restored, present = restore(client, step)
        result.restored += restored
        result.present += present
        if progress is not None:
            progress(min(start + PROGRESS_STEP, len(checked.entries)))
    return result
