"""The ``redissync-metrics`` pass: one cluster-wide view of BunkerWeb's metrics, every minute.

One SCAN walks the database in bounded batches. Each batch is read with one pipeline: keys are
counted per category, ``metrics:<plugin>_counter_<key>:<worker>`` numbers are summed per series
across every worker and instance, ``metrics:<plugin>_table_<key>:<worker>`` lists are merged (item
counts plus a bounded sample), and the hygiene tracker sees each key's TTL and fingerprint
(:mod:`.metrics_hygiene`). Then the Redis server figures and the totals become this minute's points of
the 24 h series (:mod:`.series`), and one summary goes to ``metrics-summary.json`` and to
``redissync:metrics:summary`` for the UI and every other scheduler.

Malformed data (a key under ``metrics:`` that is not BunkerWeb's format, a counter that is not a
number, a hash where a string is expected) is skipped and counted, never fatal. A lock makes two
schedulers of one cluster share the pass instead of racing on the fingerprints.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from . import series
from .connection import RedisSyncError
from .core_settings import METRICS_MAX_BLOCKED_REQUESTS_REDIS, CoreSettingError
from .keys import KEY_CATEGORIES, LOCK_PREFIX, NAMESPACE, key_category, namespaced, parse_metric_key
from .keyscan import reclaim_own_keys, scan_batches
from .metrics_hygiene import FINGERPRINTS_KEY, FINGERPRINTS_NEXT_KEY, STALE_AFTER_PASSES, Hygiene, fingerprint, requests_report
from .settings import Settings
from .state import StateStore

SUMMARY_FILE = "metrics-summary.json"
SUMMARY_KEY = namespaced("metrics", "summary")
SUMMARY_TTL_S = 3600
LOCK_KEY = LOCK_PREFIX + "metrics"
LOCK_TTL_S = 300
TABLE_SAMPLE = 20  # items kept per merged table (the tail of each worker's list)
OWN_PREFIX = NAMESPACE.encode()
_NUMBER = re.compile(rb"\s*(-?\d+)(\.\d+)?([eE][-+]?\d+)?\s*")
# One script call per batch reads what the pass needs of every key: a reply per key instead of 3-4 commands
# per key to pack and parse (client-side cost dominated the pipelined version). Bounded work per call:
# at most BATCH_SIZE keys and TABLE_SAMPLE items per list.
READ_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  local ttl = redis.call('TTL', key)
  if kind == 'string' then
    out[i] = {kind, ttl, redis.call('GET', key)}
  elseif kind == 'list' then
    out[i] = {kind, ttl, redis.call('LLEN', key), redis.call('LRANGE', key, -tonumber(ARGV[1]), -1)}
  else
    out[i] = {kind, ttl}
  end
end
return out
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def parse_number(raw: bytes) -> int | float | None:
    """A counter's value as Lua's ``tostring`` writes it; None for anything else (nan, inf, text)."""
    match = _NUMBER.fullmatch(raw)
    if not match:
        return None
    try:
        if match.group(2) is None and match.group(3) is None:
            return int(match.group(1))
        number = float(raw)
    except ValueError:  # more digits than Python converts (sys.int_max_str_digits): no counter Lua writes
        return None
    return number if math.isfinite(number) else None  # 1e999 → inf would break the summary's JSON


def _sample_item(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: a JSON bomb (deep nesting)
        return raw.decode("utf-8", "replace")


@dataclass
class Aggregate:
    """Everything one pass learns, batch after batch (bounded: per series, never per key)."""

    counters: dict[str, int | float] = field(default_factory=lambda: defaultdict(int))
    tables: dict[str, dict] = field(default_factory=dict)
    series_workers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    workers: set[str] = field(default_factory=set)
    categories: Counter = field(default_factory=Counter)
    malformed: Counter = field(default_factory=Counter)
    facet_keys: list[bytes] = field(default_factory=list)
    metrics_keys: int = 0

    def add_table(self, series_key: str, length: int, tail: list[bytes]) -> None:
        table = self.tables.setdefault(series_key, {"items": 0, "workers": 0, "sample": []})
        table["items"] += length
        table["workers"] += 1
        table["sample"] = (table["sample"] + tail)[-TABLE_SAMPLE:]  # raw: only the kept items are decoded


def read_batch(client: Redis, keys: list[bytes], aggregate: Aggregate, hygiene: Hygiene) -> None:
    """Count, aggregate and fingerprint one SCAN batch with a single pipelined round trip."""
    wanted = []
    for key in keys:
        if key.startswith(OWN_PREFIX):
            continue  # our own series and fingerprints are not BunkerWeb's data (and change during the pass)
        aggregate.categories[key_category(key)] += 1
        if key.startswith(b"requests:facet:"):
            aggregate.facet_keys.append(key)
        if not key.startswith(b"metrics:"):
            continue
        aggregate.metrics_keys += 1
        parsed = parse_metric_key(key)
        if parsed is None:
            aggregate.malformed["unparsed_key"] += 1
            continue
        wanted.append((key, parsed))
    if not wanted:
        return
    pipe = client.pipeline(transaction=False)
    pipe.eval(READ_SCRIPT, len(wanted), *(key for key, _ in wanted), TABLE_SAMPLE)
    pipe.hmget(FINGERPRINTS_KEY, [key for key, _ in wanted])
    replies, previous_tracks = pipe.execute()
    seen, previous = [], []
    for (key, parsed), track, reply in zip(wanted, previous_tracks, replies, strict=True):
        kind, ttl, *values = reply
        if kind == b"none" or ttl == -2:
            aggregate.malformed["vanished"] += 1  # deleted between SCAN and read: not an error
            continue
        if parsed.kind == "counter":
            if kind != b"string":
                aggregate.malformed["wrong_type"] += 1
                continue
            number = parse_number(values[0])
            if number is None:
                aggregate.malformed["non_numeric"] += 1
                continue
            aggregate.counters[parsed.series] += number
            digest = fingerprint([values[0]])
        else:
            if kind != b"list":
                aggregate.malformed["wrong_type"] += 1
                continue
            aggregate.add_table(parsed.series, values[0], values[1])
            hygiene.note_table(parsed.series + ":" + parsed.worker, values[0])
            digest = fingerprint([str(values[0]).encode(), *values[1]])
        aggregate.series_workers[parsed.series].add(parsed.worker)
        aggregate.workers.add(parsed.worker)
        seen.append((key, parsed.worker, digest, ttl))
        previous.append(track)
    if seen:
        hygiene.observe(seen, previous)


def _by_plugin(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = defaultdict(dict)
    for series_key, value in sorted(flat.items()):
        parsed = parse_metric_key(f"metrics:{series_key}:0")
        if parsed is not None:
            nested[parsed.plugin][parsed.name] = value
    return dict(nested)


def _human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def summary_line(summary: dict) -> str:
    hygiene, requests, server = summary["hygiene"], summary["requests"], summary["server"]
    malformed = sum(value for name, value in summary["malformed"].items() if name != "vanished")
    parts = [
        f"{summary['counter_series']} counter series and {summary['table_series']} tables from "
        f"{len(summary['workers'])} workers ({summary['metrics_keys']} metrics keys)",
        f"{hygiene['no_ttl']} without TTL, {hygiene['stale']} stale, {hygiene['bounded_now']} bounded now"
        + (f", silent workers {','.join(hygiene['silent_workers'])}" if hygiene["silent_workers"] else ""),
        f"requests {requests['length']}/{requests['cap']}" + (" OVER CAP" if requests["over_cap"] else ""),
        f"{server['ops']:.0f} ops/s, {_human_bytes(server['mem'])} used",
    ]
    if malformed:
        parts.append(f"{malformed} malformed skipped")
    return "; ".join(parts)


def aggregate_pass(client: Redis, cap: int, now: float, stale_after: int = STALE_AFTER_PASSES) -> dict:
    """The pass itself (the caller holds the lock): aggregate, bound, write the series; the summary."""
    aggregate = Aggregate()
    hygiene = Hygiene(client, stale_after=stale_after)
    hygiene.begin()
    for batch in scan_batches(client):
        read_batch(client, batch, aggregate, hygiene)
    hygiene_report = hygiene.finish()
    requests = requests_report(client, cap, aggregate.facet_keys)
    minute = series.minute_of(now)
    info = client.info()
    categories = {category: aggregate.categories.get(category, 0) for category in KEY_CATEGORIES}
    point = series.server_point(info, categories, series.previous_point(client, series.SERVER_SERIES_KEY, minute), now)
    points_kept = series.write_point(client, series.SERVER_SERIES_KEY, point)
    series.write_point(client, series.TOTALS_SERIES_KEY, series.totals_point(minute, aggregate.counters))
    summary = {
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "minute": minute,
        "metrics_keys": aggregate.metrics_keys,
        "counter_series": len(aggregate.counters),
        "table_series": len(aggregate.tables),
        "counters": _by_plugin(dict(aggregate.counters)),
        "tables": _by_plugin({name: {**table, "sample": [_sample_item(item) for item in table["sample"]]}
                              for name, table in aggregate.tables.items()}),
        "workers": sorted(aggregate.workers),
        "server": {name: point[name] for name in ("ops", "mem", "keys", "hit", "clients", "lag", "lag_bytes", "role")},
        "series": series.chart(series.read_points(client, series.SERVER_SERIES_KEY, minute)),
        "series_points": points_kept,
        "hygiene": hygiene_report,
        "requests": requests,
        "malformed": {name: aggregate.malformed.get(name, 0) for name in ("unparsed_key", "non_numeric", "wrong_type", "vanished")},
    }
    summary["summary"] = summary_line(summary)
    return summary


def one_pass(settings: Settings, client: Redis, state: StateStore, logger: logging.Logger, *, now: float | None = None,
             env: dict[str, str] | None = None, stale_after: int = STALE_AFTER_PASSES) -> str:
    """The job's work: run the pass under the cluster lock, publish the summary, return its line."""
    try:
        cap = METRICS_MAX_BLOCKED_REQUESTS_REDIS.read(env)
    except CoreSettingError as error:
        raise RedisSyncError(str(error)) from None
    token = uuid.uuid4().hex
    own = {LOCK_KEY: "string", SUMMARY_KEY: "string", FINGERPRINTS_KEY: "hash", FINGERPRINTS_NEXT_KEY: "hash",
           series.SERVER_SERIES_KEY: "zset", series.TOTALS_SERIES_KEY: "zset"}
    reclaimed = reclaim_own_keys(client, own)
    if reclaimed:
        logger.warning(f"redissync-metrics: replaced {reclaimed} of its own keys (redissync:metrics:*) that held the wrong type")
    if not client.set(LOCK_KEY, token, nx=True, ex=LOCK_TTL_S):
        shared = client.get(SUMMARY_KEY)
        if shared:
            state.write(SUMMARY_FILE, shared)
        return "another scheduler is running this minute's pass; " + ("copied its summary" if shared else "no summary yet")
    try:
        summary = aggregate_pass(client, cap, time.time() if now is None else now, stale_after)
        encoded = json.dumps(summary, separators=(",", ":"), sort_keys=True).encode()
        client.set(SUMMARY_KEY, encoded, ex=SUMMARY_TTL_S)
        state.write(SUMMARY_FILE, encoded)
    finally:
        client.eval(_RELEASE, 1, LOCK_KEY, token)
    if summary["requests"]["over_cap"]:
        logger.warning(f"the requests list holds {summary['requests']['length']} entries, over METRICS_MAX_BLOCKED_REQUESTS_REDIS="
                       f"{summary['requests']['cap']}; BunkerWeb trims it on its next sync (redissync never trims it)")
    return summary["summary"]
