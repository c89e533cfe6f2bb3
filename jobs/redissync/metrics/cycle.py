"""The ``redissync-metrics`` pass: one cluster-wide view of BunkerWeb's metrics, every minute.

One SCAN walks the database in bounded batches, each read and merged by :mod:`.batch` while the next is
fetched; the hygiene tracker (:mod:`.hygiene`) sees each key's TTL and fingerprint. Then the Redis server
figures and the totals become this minute's points of the 24 h series (:mod:`.series`), and one summary
goes to ``metrics-summary.json`` and to ``redissync:metrics:summary`` for the UI and every other scheduler.

Malformed data (a key under ``metrics:`` that is not BunkerWeb's format, a counter that is not a
number, a hash where a string is expected) is skipped and counted, never fatal. A lock makes two
schedulers of one cluster share the pass instead of racing on the fingerprints.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, cast

from redis import Redis

from .. import human
from ..cached_files import METRICS_SUMMARY_FILE
from ..core_settings import METRICS_MAX_BLOCKED_REQUESTS_REDIS, METRICS_REDIS_TTL
from ..errors import CoreSettingError, RedisSyncError
from ..keys import KEY_CATEGORIES, METRICS_SUMMARY_KEY, SERVER_SERIES_KEY, TOTALS_SERIES_KEY, parse_metric_key
from ..keyspace import data_nodes, is_cluster, prefetched, scan_nodes
from ..lock import exclusive_pass
from ..settings import Settings
from ..state import StateStore
from . import series
from .hygiene import STALE_AFTER_PASSES, Hygiene, requests_report
from .merge import Aggregate, MetricNames, digest_batch, fetch_batch, sample_item

SUMMARY_FILE = METRICS_SUMMARY_FILE
SUMMARY_TTL_S = 3600
LOCK_TTL_S = 300


def _by_plugin(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = defaultdict(dict)
    for series_key, value in sorted(flat.items()):
        parsed = parse_metric_key(f"metrics:{series_key}:0")
        if parsed is not None:
            nested[parsed.plugin][parsed.name] = value
    return dict(nested)


def summary_line(summary: dict[str, Any]) -> str:
    hygiene, requests, server = summary["hygiene"], summary["requests"], summary["server"]
    malformed = sum(value for name, value in summary["malformed"].items() if name != "vanished")
    parts = [
        f"{summary['counter_series']} counter series and {summary['table_series']} tables from "
        f"{len(summary['workers'])} workers ({summary['metrics_keys']} metrics keys"
        + (f" on {summary['masters']} cluster masters)" if summary.get("masters", 1) > 1 else ")"),
        f"{hygiene['no_ttl']} without TTL, {hygiene['stale']} stale, "
        + (f"{hygiene['bounded_now']} bounded now" if hygiene["applied"] else "none bounded (METRICS_REDIS_TTL is BunkerWeb's)")
        + (f", silent workers {','.join(hygiene['silent_workers'])}" if hygiene["silent_workers"] else ""),
        f"requests {requests['length']}/{requests['cap']}" + (" OVER CAP" if requests["over_cap"] else ""),
        f"{server['ops']:.0f} ops/s, {human.size(server['mem'])} used",
    ]
    if malformed:
        parts.append(f"{malformed} malformed skipped")
    return "; ".join(parts)


def aggregate_pass(client: Redis, cap: int, now: float, stale_after: int = STALE_AFTER_PASSES,
                   bound: bool = True) -> dict[str, Any]:
    """The pass itself (the caller holds the lock): aggregate, bound (unless ``bound`` is false: BunkerWeb's
    METRICS_REDIS_TTL owns the keys' lifetime), write the series; the summary. On a Redis Cluster every
    master's keyspace is walked."""
    aggregate = Aggregate()
    hygiene = Hygiene(client, stale_after=stale_after, apply=bound)
    hygiene.begin()
    names = MetricNames()
    nodes = data_nodes(client)
    # A thread scans and reads the next batches while this one is aggregated: Redis's work and ours overlap.
    for fetched in prefetched(fetch_batch(client, batch, names) for batch in scan_nodes(client)):
        digest_batch(fetched, aggregate, hygiene)
    hygiene_report = hygiene.finish()
    requests = requests_report(client, cap, aggregate.facet_keys)
    minute = series.minute_of(now)
    info = series.cluster_info([node.info() for node in nodes]) if is_cluster(client) else client.info()
    categories = {category: aggregate.categories.get(category, 0) for category in KEY_CATEGORIES}
    point = series.server_point(info, categories, series.previous_point(client, SERVER_SERIES_KEY, minute), now)
    points_kept = series.write_point(client, SERVER_SERIES_KEY, point)
    series.write_point(client, TOTALS_SERIES_KEY, series.totals_point(minute, aggregate.counters))
    summary = {
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "minute": minute,
        "metrics_keys": aggregate.metrics_keys,
        "counter_series": len(aggregate.counters),
        "table_series": len(aggregate.tables),
        "counters": _by_plugin(dict(aggregate.counters)),
        "tables": _by_plugin({name: {**table, "sample": [sample_item(item) for item in table["sample"]]}
                              for name, table in aggregate.tables.items()}),
        "workers": sorted(aggregate.workers),
        "masters": len(nodes),
        "server": {name: point[name] for name in ("ops", "mem", "keys", "hit", "clients", "lag", "lag_bytes", "role")},
        "series": series.chart(series.read_points(client, SERVER_SERIES_KEY, minute)),
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
    core = settings.core_env if env is None else env
    try:
        cap = METRICS_MAX_BLOCKED_REQUESTS_REDIS.read(core)
    except CoreSettingError as error:
        raise RedisSyncError(str(error)) from None
    with exclusive_pass(client, "metrics", LOCK_TTL_S * 1000, logger) as lock:
        if lock is None:
            shared = cast("bytes | None", client.get(METRICS_SUMMARY_KEY))
            if shared:
                state.write(SUMMARY_FILE, shared)
            return "another scheduler is running this minute's pass; " + ("copied its summary" if shared else "no summary yet")
        summary = aggregate_pass(client, cap, time.time() if now is None else now, stale_after, METRICS_REDIS_TTL not in core)
        encoded = json.dumps(summary, separators=(",", ":"), sort_keys=True).encode()
        client.set(METRICS_SUMMARY_KEY, encoded, ex=SUMMARY_TTL_S)
        state.write(SUMMARY_FILE, encoded)
    if summary["requests"]["over_cap"]:
        logger.warning(f"the requests list holds {summary['requests']['length']} entries, over METRICS_MAX_BLOCKED_REQUESTS_REDIS="
                       f"{summary['requests']['cap']}; BunkerWeb trims it on its next sync (redissync never trims it)")
    return str(summary["summary"])
