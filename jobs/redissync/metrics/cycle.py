"""The ``redissync-metrics`` pass: one cluster-wide view of BunkerWeb's metrics, every minute.

One SCAN walks the database in bounded batches. Each batch is read with one pipeline: keys are
counted per category, ``metrics:<plugin>_counter_<key>:<worker>`` numbers are summed per series
across every worker and instance, ``metrics:<plugin>_table_<key>:<worker>`` lists are merged (item
counts plus a bounded sample), and the hygiene tracker sees each key's TTL and fingerprint
(:mod:`.hygiene`). Then the Redis server figures and the totals become this minute's points of
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

from ..connection import RedisSyncError
from ..core_settings import METRICS_MAX_BLOCKED_REQUESTS_REDIS, CoreSettingError
from ..keys import KEY_CATEGORIES, LOCK_PREFIX, NAMESPACE, key_category, namespaced, parse_metric_key
from ..scan import prefetched, reclaim_own_keys, scan_batches
from ..settings import Settings
from ..state import StateStore
from . import series
from .hygiene import FINGERPRINTS_KEY, FINGERPRINTS_NEXT_KEY, STALE_AFTER_PASSES, Hygiene, fingerprint, requests_report

SUMMARY_FILE = "metrics-summary.json"
SUMMARY_KEY = namespaced("metrics", "summary")
SUMMARY_TTL_S = 3600
LOCK_KEY = LOCK_PREFIX + "metrics"
LOCK_TTL_S = 300
TABLE_SAMPLE = 20  # items kept per merged table (the tail of each worker's list)
OWN_PREFIX = NAMESPACE.encode()
_NUMBER = re.compile(rb"\s*(-?\d+)(\.\d+)?([eE][-+]?\d+)?\s*")
# One script call per batch reads what the pass needs of every key, and their fingerprints (the last key is
# the fingerprints hash): a reply per key instead of 3-4 commands per key to pack and parse (client-side cost
# dominated the pipelined version). Bounded work per call: at most BATCH_SIZE keys and TABLE_SAMPLE items per list.
READ_SCRIPT = """
local out = {}
local last = #KEYS - 1
for i = 1, last do
  local key = KEYS[i]
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
return {out, redis.call('HMGET', KEYS[#KEYS], unpack(KEYS, 1, last))}
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


class MetricNames:
    """``parse_metric_key`` once per series instead of once per key: every worker of every instance writes
    the same ``metrics:<plugin>_<kind>_<name>`` head, only the ``:<worker>`` tail differs. Bounded: past
    :data:`NAMES_CACHED` distinct heads (a hostile keyspace) the rest are parsed every time."""

    def __init__(self) -> None:
        self._heads: dict[bytes, tuple[str, bool] | None] = {}

    def parse(self, key: bytes) -> tuple[str, bool, str] | None:
        """``(series, is_counter, worker)`` or None when ``key`` is not BunkerWeb's format."""
        head, _, worker = key.rpartition(b":")
        known = self._heads.get(head, _UNKNOWN)
        if known is _UNKNOWN:
            parsed = parse_metric_key(key)
            if parsed is None:
                if worker and _decodes(key):
                    self._remember(head, None)  # neither the worker nor the encoding: the head is wrong
                return None
            known = (parsed.series, parsed.kind == "counter")
            self._remember(head, known)
            return known[0], known[1], parsed.worker
        if known is None or not worker:
            return None
        try:
            return known[0], known[1], worker.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _remember(self, head: bytes, value: tuple[str, bool] | None) -> None:
        if len(self._heads) < NAMES_CACHED:
            self._heads[head] = value


NAMES_CACHED = 100_000
_UNKNOWN = object()


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class Fetched:
    """One SCAN batch read from Redis, before aggregation: what :func:`fetch_batch` learnt (it runs in the
    prefetch thread, so it fills this instead of touching the shared :class:`Aggregate`)."""

    categories: Counter = field(default_factory=Counter)
    facet_keys: list[bytes] = field(default_factory=list)
    metrics_keys: int = 0
    unparsed: int = 0
    wanted: list[tuple[bytes, tuple[str, bool, str]]] = field(default_factory=list)
    replies: list = field(default_factory=list)
    tracks: list = field(default_factory=list)


def fetch_batch(client: Redis, keys: list[bytes], names: MetricNames) -> Fetched:
    """Sort one SCAN batch and read its well-formed metrics keys (and their fingerprints) in one round trip."""
    fetched = Fetched()
    categories, wanted = fetched.categories, fetched.wanted
    for key in keys:
        if key.startswith(OWN_PREFIX):
            continue  # our own series and fingerprints are not BunkerWeb's data (and change during the pass)
        categories[key_category(key)] += 1
        if not key.startswith(b"metrics:"):
            if key.startswith(b"requests:facet:"):
                fetched.facet_keys.append(key)
            continue
        fetched.metrics_keys += 1
        parsed = names.parse(key)
        if parsed is None:
            fetched.unparsed += 1
            continue
        wanted.append((key, parsed))
    if wanted:
        fetched.replies, fetched.tracks = client.eval(READ_SCRIPT, len(wanted) + 1, *(key for key, _ in wanted), FINGERPRINTS_KEY,
                                                      TABLE_SAMPLE)
    return fetched


def digest_batch(fetched: Fetched, aggregate: Aggregate, hygiene: Hygiene) -> None:
    """Count, sum, merge and fingerprint what :func:`fetch_batch` read."""
    aggregate.categories.update(fetched.categories)
    aggregate.facet_keys += fetched.facet_keys
    aggregate.metrics_keys += fetched.metrics_keys
    malformed = aggregate.malformed
    if fetched.unparsed:
        malformed["unparsed_key"] += fetched.unparsed
    seen, previous = [], []
    counters, series_workers, workers = aggregate.counters, aggregate.series_workers, aggregate.workers
    for (key, (series_key, is_counter, worker)), track, reply in zip(fetched.wanted, fetched.tracks, fetched.replies, strict=True):
        kind, ttl = reply[0], reply[1]
        if kind == b"none" or ttl == -2:
            malformed["vanished"] += 1  # deleted between SCAN and read: not an error
            continue
        if is_counter:
            if kind != b"string":
                malformed["wrong_type"] += 1
                continue
            raw = reply[2]
            number = int(raw) if raw.isdigit() and len(raw) < 19 else parse_number(raw)
            if number is None:
                malformed["non_numeric"] += 1
                continue
            counters[series_key] += number
            digest = fingerprint([raw])
        else:
            if kind != b"list":
                malformed["wrong_type"] += 1
                continue
            length, tail = reply[2], reply[3]
            aggregate.add_table(series_key, length, tail)
            hygiene.note_table(series_key + ":" + worker, length)
            digest = fingerprint([str(length).encode(), *tail])
        series_workers[series_key].add(worker)
        workers.add(worker)
        seen.append((key, worker, digest, ttl))
        previous.append(track)
    if seen:
        hygiene.observe(seen, previous)


def read_batch(client: Redis, keys: list[bytes], aggregate: Aggregate, hygiene: Hygiene, names: MetricNames | None = None) -> None:
    """Count, aggregate and fingerprint one SCAN batch with a single pipelined round trip."""
    digest_batch(fetch_batch(client, keys, names or MetricNames()), aggregate, hygiene)


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
    names = MetricNames()
    # A thread scans and reads the next batches while this one is aggregated: Redis's work and ours overlap.
    for fetched in prefetched(fetch_batch(client, batch, names) for batch in scan_batches(client)):
        digest_batch(fetched, aggregate, hygiene)
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
