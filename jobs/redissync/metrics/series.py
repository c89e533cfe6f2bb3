"""The metrics job's per-minute time series: Redis server figures and counter totals, 24 h kept.

Each series is one sorted set in our namespace scored by the minute (epoch seconds), so every
scheduler and the UI can read it with one ZRANGEBYSCORE. A point is written with a MULTI that first
removes any point of the same minute (a rerun or a second scheduler replaces it, never duplicates
it), then drops points older than 24 h and re-arms the key's TTL: nothing here lives forever.
"""

from __future__ import annotations

import json
from typing import Any, cast

from redis import Redis

from ..keys import KEY_CATEGORIES
from ..keyspace import is_cluster

MINUTE = 60
RETENTION_S = 24 * 3600  # 1440 points at 1-minute resolution
SERIES_TTL_S = RETENTION_S + 3600
MAX_TOTALS_PER_POINT = 200  # the largest counter series; the rest are summed under "(other)"


def minute_of(now: float) -> int:
    return int(now) // MINUTE * MINUTE


def oldest_kept(minute: int) -> int:
    """The oldest minute a series keeps once ``minute`` is written (exactly 24 h of points)."""
    return minute - RETENTION_S + MINUTE


def _number(info: dict[str, Any], name: str) -> float | None:
    value = info.get(name)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def replication_lag(info: dict[str, Any]) -> tuple[float | None, int | None]:
    """(seconds, bytes) of the worst replica seen from a master, or of this node when it is a replica."""
    if info.get("role") == "slave":
        seconds = _number(info, "master_last_io_seconds_ago")
        return (seconds if seconds is not None and seconds >= 0 else None), None
    master_offset = _number(info, "master_repl_offset") or 0
    worst_s: float | None = None
    worst_bytes: int | None = None
    for name, value in info.items():
        if not (name.startswith("slave") and name[5:].isdigit() and isinstance(value, dict)):
            continue
        lag_s = _number(value, "lag")
        offset = _number(value, "offset")
        if lag_s is not None:
            worst_s = lag_s if worst_s is None else max(worst_s, lag_s)
        if offset is not None:
            lag_bytes = int(max(0, master_offset - offset))
            worst_bytes = lag_bytes if worst_bytes is None else max(worst_bytes, lag_bytes)
    return worst_s, worst_bytes


# What a Redis Cluster's figures add up from, master by master.
_SUMMED = ("total_commands_processed", "keyspace_hits", "keyspace_misses", "instantaneous_ops_per_sec", "used_memory",
           "connected_clients")


def cluster_info(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """The INFO of a Redis Cluster's masters as one server's: counters summed, the worst replica's lag, and a run id
    that changes when any master restarts (the rates then fall back to the instantaneous figure)."""
    merged: dict[str, Any] = {name: sum(_number(info, name) or 0 for info in infos) for name in _SUMMED}
    lags = [replication_lag(info) for info in infos]
    seconds = [lag for lag, _ in lags if lag is not None]
    sizes = [size for _, size in lags if size is not None]
    merged.update(role=f"cluster, {len(infos)} masters", run_id=",".join(sorted(str(info.get("run_id")) for info in infos)),
                  lag=(max(seconds) if seconds else None, max(sizes) if sizes else None))
    return merged


def server_point(info: dict[str, Any], keys_per_category: dict[str, int], previous: dict[str, Any] | None,
                 now: float) -> dict[str, Any]:
    """One point of server figures (``info`` of one server, or :func:`cluster_info`). Rates are deltas against the
    previous point of the same server run (a restart resets Redis's counters), else Redis's instantaneous figure."""
    commands = int(_number(info, "total_commands_processed") or 0)
    hits = int(_number(info, "keyspace_hits") or 0)
    misses = int(_number(info, "keyspace_misses") or 0)
    ops = _number(info, "instantaneous_ops_per_sec") or 0.0
    hit_hits, hit_total = hits, hits + misses
    if previous and previous.get("run") == info.get("run_id") and now > previous.get("ts", now):
        elapsed = now - previous["ts"]
        if commands >= previous.get("cmds", 0):
            ops = (commands - previous["cmds"]) / elapsed
        if hits >= previous.get("hits", 0) and misses >= previous.get("misses", 0):
            hit_hits, hit_total = hits - previous["hits"], hits - previous["hits"] + misses - previous["misses"]
    lag_s, lag_bytes = info["lag"] if "lag" in info else replication_lag(info)
    return {
        "t": minute_of(now),
        "ts": round(now, 3),
        "ops": round(ops, 2),
        "mem": int(_number(info, "used_memory") or 0),
        "keys": {category: int(keys_per_category.get(category, 0)) for category in KEY_CATEGORIES},
        "hit": round(hit_hits / hit_total, 4) if hit_total else None,
        "clients": int(_number(info, "connected_clients") or 0),
        "lag": lag_s,
        "lag_bytes": lag_bytes,
        "role": info.get("role"),
        "run": info.get("run_id"),
        "cmds": commands,
        "hits": hits,
        "misses": misses,
    }


def totals_point(minute: int, totals: dict[str, float]) -> dict[str, Any]:
    ranked = sorted(totals.items(), key=lambda item: (-abs(item[1]), item[0]))
    kept = dict(ranked[:MAX_TOTALS_PER_POINT])
    rest = ranked[MAX_TOTALS_PER_POINT:]
    if rest:
        kept["(other)"] = sum(value for _, value in rest)
    return {"t": minute, "c": kept}


def previous_point(client: Redis, key: str, minute: int) -> dict[str, Any] | None:
    """The latest point strictly before ``minute`` (a rerun of the same minute compares with the one before)."""
    members = cast("list[bytes]", client.zrevrangebyscore(key, f"({minute}", "-inf", start=0, num=1))
    return _decode(members[0]) if members else None


def write_point(client: Redis, key: str, point: dict[str, Any]) -> int:
    """Replace the point of this minute, trim to 24 h, re-arm the TTL; returns the points kept. One key: on a Redis
    Cluster (no MULTI in redis-py 5's cluster pipeline) the commands still reach its one node in order, and only the
    lock holder writes."""
    minute = int(point["t"])
    pipe = client.pipeline(transaction=not is_cluster(client))
    pipe.zremrangebyscore(key, minute, minute)
    pipe.zadd(key, {json.dumps(point, separators=(",", ":"), sort_keys=True): minute})
    pipe.zremrangebyscore(key, "-inf", f"({oldest_kept(minute)}")
    pipe.expire(key, SERIES_TTL_S)
    pipe.zcard(key)
    return int(pipe.execute()[-1])


def read_points(client: Redis, key: str, minute: int) -> list[dict[str, Any]]:
    """Every point of the last 24 h, oldest first (malformed members skipped)."""
    members = cast("list[bytes]", client.zrangebyscore(key, oldest_kept(minute), "+inf"))
    points = (_decode(member) for member in members)
    return [point for point in points if point is not None]


def chart(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns the UI draws directly: time, ops/s, memory, clients, hit ratio, keys per category."""
    return {
        "t": [point.get("t") for point in points],
        "ops": [point.get("ops") for point in points],
        "mem": [point.get("mem") for point in points],
        "clients": [point.get("clients") for point in points],
        "hit": [point.get("hit") for point in points],
        "keys": {category: [point.get("keys", {}).get(category) for point in points] for category in KEY_CATEGORIES},
    }


def _decode(member: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(member)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("t"), int) else None
