"""One SCAN batch of the metrics pass: read every key with one script call, then count, sum and merge it.

Keys are counted per category, ``metrics:<plugin>_counter_<key>:<worker>`` numbers are summed per series
across every worker and instance, ``metrics:<plugin>_table_<key>:<worker>`` lists are merged (item counts
plus a bounded sample), and the hygiene tracker sees each key's TTL and fingerprint. Malformed data is
skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from ..keys import FACET_PREFIXES, FINGERPRINTS_KEY, NAMESPACE, key_category, parse_metric_key
from ..keyspace import is_cluster, per_key_script
from .hygiene import Hygiene, fingerprint

TABLE_SAMPLE = 20  # items kept per merged table (the tail of each worker's list)
OWN_PREFIX = NAMESPACE.encode()
_NUMBER = re.compile(rb"\s*(-?\d+)(\.\d+)?([eE][-+]?\d+)?\s*")


# One script call per batch reads what the pass needs of every key, and their fingerprints (the last key is
# the fingerprints hash): a reply per key instead of 3-4 commands per key to pack and parse (client-side cost
# dominated the pipelined version). Bounded work per call: at most BATCH_SIZE keys and TABLE_SAMPLE items per list.
# On a Redis Cluster a script touches one slot: READ_KEYS runs once per slot (keyspace.per_key_script) and the
# fingerprints are one HMGET on their own node.
_READ_ONE = """
local function read(key, sample)
  local kind = redis.call('TYPE', key).ok
  local ttl = redis.call('TTL', key)
  if kind == 'string' then
    return {kind, ttl, redis.call('GET', key)}
  elseif kind == 'list' then
    return {kind, ttl, redis.call('LLEN', key), redis.call('LRANGE', key, -sample, -1)}
  end
  return {kind, ttl}
end
"""
READ_SCRIPT = _READ_ONE + """
local out = {}
local last = #KEYS - 1
for i = 1, last do
  out[i] = read(KEYS[i], tonumber(ARGV[1]))
end
return {out, redis.call('HMGET', KEYS[#KEYS], unpack(KEYS, 1, last))}
"""
READ_KEYS = _READ_ONE + """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = read(key, tonumber(ARGV[1]))
end
return out
"""


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


def sample_item(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: a JSON bomb (deep nesting)
        return raw.decode("utf-8", "replace")


@dataclass
class Aggregate:
    """Everything one pass learns, batch after batch (bounded: per series, never per key)."""

    counters: dict[str, int | float] = field(default_factory=lambda: defaultdict(int))
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    series_workers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    workers: set[str] = field(default_factory=set)
    categories: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
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
_UNKNOWN: Any = object()


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

    categories: Counter[str] = field(default_factory=Counter)
    facet_keys: list[bytes] = field(default_factory=list)
    metrics_keys: int = 0
    unparsed: int = 0
    wanted: list[tuple[bytes, tuple[str, bool, str]]] = field(default_factory=list)
    replies: list[Any] = field(default_factory=list)
    tracks: list[Any] = field(default_factory=list)


def fetch_batch(client: Redis, keys: list[bytes], names: MetricNames) -> Fetched:
    """Sort one SCAN batch and read its well-formed metrics keys (and their fingerprints) in one round trip."""
    fetched = Fetched()
    categories, wanted = fetched.categories, fetched.wanted
    for key in keys:
        if key.startswith(OWN_PREFIX):
            continue  # our own series and fingerprints are not BunkerWeb's data (and change during the pass)
        categories[key_category(key)] += 1
        if not key.startswith(b"metrics:"):
            if key.startswith(FACET_PREFIXES):
                fetched.facet_keys.append(key)
            continue
        fetched.metrics_keys += 1
        parsed = names.parse(key)
        if parsed is None:
            fetched.unparsed += 1
            continue
        wanted.append((key, parsed))
    if wanted:
        keys = [key for key, _ in wanted]
        if is_cluster(client):
            fetched.replies = per_key_script(client, READ_KEYS, keys, TABLE_SAMPLE)
            fetched.tracks = client.hmget(FINGERPRINTS_KEY, keys)
        else:
            fetched.replies, fetched.tracks = client.eval(READ_SCRIPT, len(keys) + 1, *keys, FINGERPRINTS_KEY, TABLE_SAMPLE)
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


