"""The Redis Cluster section of the UI page: the cluster's state and every shard (slot ranges, master, replicas, keys,
state), from the check report's ``cluster-info`` and ``cluster-topology`` steps (never from its display lines)."""

from __future__ import annotations

from typing import Any

from ..reports import CLUSTER_INFO, CLUSTER_TOPOLOGY
from .format import DASH, count, dig, first, text
from .sections import no_report


def shards(check: dict[str, Any] | None, public: dict[str, Any] | None) -> dict[str, Any]:
    mode = first(public or {}, "mode", default=None) or dig(check, "mode")
    if mode != "cluster":
        return {"state": "na", "message": "Not in Redis Cluster mode: no shards to show."}
    by_id = {step.get("id"): step for step in dig(check, "steps", default=[]) if isinstance(step, dict)}
    if CLUSTER_TOPOLOGY not in by_id or not isinstance(dig(by_id, CLUSTER_TOPOLOGY, "details", "shards"), list):
        return no_report("redissync-check", "the cluster's shards")
    info = dig(by_id, CLUSTER_INFO, "details", "info", default={})
    rows = [_row(shard) for shard in dig(by_id, CLUSTER_TOPOLOGY, "details", "shards", default=[]) if isinstance(shard, dict)]
    return {
        "state": "ok",
        "cluster_state": text(dig(info, "cluster_state")) or DASH,
        "cluster_ok": dig(info, "cluster_state") == "ok",
        "slots": f"{text(dig(info, 'cluster_slots_ok')) or DASH} of 16384 slots ok",
        "nodes": text(dig(info, "cluster_known_nodes")) or DASH,
        "shards": rows,
        "degraded": any(not row["ok"] for row in rows),
        "warnings": [text(w, 300) for w in dig(by_id, CLUSTER_TOPOLOGY, "warnings", default=[]) if isinstance(w, str)],
    }


def _row(shard: dict[str, Any]) -> dict[str, Any]:
    master: dict[str, Any] = shard["master"] if isinstance(shard.get("master"), dict) else {}
    replicas = [replica for replica in shard.get("replicas") or [] if isinstance(replica, dict)]
    ranges = [r for r in shard.get("slots") or [] if isinstance(r, list | tuple) and len(r) == 2]
    return {
        "slots": ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges) or DASH,
        "slot_count": count(shard.get("slot_count")),
        "master": text(master.get("address"), 80) or DASH,
        "master_ok": "fail" not in (master.get("flags") or []) and master.get("reachable") is not False,
        "replicas": [{"address": text(replica.get("address"), 80),
                      "ok": not {"fail", "fail?"} & set(replica.get("flags") or []) and replica.get("link") == "connected",
                      "detail": f"{text(','.join(replica.get('flags') or []), 40)}, link {text(replica.get('link')) or DASH}"}
                     for replica in replicas],
        "key_count": count(shard.get("keys")) if shard.get("keys") is not None else DASH,  # not "keys": a dict method in Jinja
        "state": text(shard.get("state")) or DASH,
        "ok": shard.get("state") == "ok",
    }
