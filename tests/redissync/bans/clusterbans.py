"""Helpers of the bans pass's cluster tests: bans under BunkerWeb's cluster names, where each key lives."""

from __future__ import annotations

from harness.bans import ban_value
from harness.cluster import ClusterTopology
from redissync.keys import BanKey


def write_cluster_ban(client, ip: str, service: str | None = None, ttl: int | None = 3600) -> str:
    """A ban under BunkerWeb's cluster name (rediskeys.ban), as an instance in cluster mode writes it."""
    key = BanKey(ip, service).key_in(cluster=True)
    client.set(key, ban_value(ip, service, permanent=ttl is None), ex=ttl)
    return key


def by_master(topology: ClusterTopology, keys: list[str]) -> dict[int, list[str]]:
    """The keys each master holds now, read on the master itself."""
    held: dict[int, list[str]] = {}
    for master in topology.masters():
        with master.client() as node:
            present = {key.decode() for key in node.scan_iter("bans_*", count=1000)}
        held[master.port] = [key for key in keys if key in present]
    return held
