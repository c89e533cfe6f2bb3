"""The bad-behaviour counters of unbanned IPs, deleted so that an IP is not re-banned on its next request
(BunkerWeb #3818): the unbanned scope's own, and for a global unban every service's too (a global unban
lifts every ban of the IP, docs/bunkerweb-data.md §bans).

By name, not by scanning for them: a service's counter for an IP is ``plugin_bad_behavior_<service>_<ip>``,
and a service that can hold a counter worth clearing has bans in the journal (a counter at the threshold
bans), so the names are the unbanned IPs times the journal's services. A ``SCAN`` of the whole keyspace
cost a large database about a second per pass with a global unban; deleting names costs what there is to
delete. Only past :data:`BY_NAME_LIMIT` names (many services times many global unbans) does a scan win.

The names are the current mode's: on a Redis Cluster BunkerWeb counts under ``plugin_bad_behavior_{<ip>}`` and
``plugin_bad_behavior_<escaped service>_{<ip>}`` (keys.bad_behavior_key), deleted one hash slot at a time
(keyspace.unlink), and the scan walks every master.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from ..keys import BAD_BEHAVIOR_PATTERN, bad_behavior_key, parse_ban_key
from ..keyspace import is_cluster, scan_nodes, unlink
from .entry import Entry

CHUNK = 1_000  # names per DEL
BY_NAME_LIMIT = 200_000  # names above which one SCAN of the counters is cheaper


def clear_counters(client: Redis, unbanned: list[Entry], services: Iterable[str]) -> int:
    """Delete the counters of ``unbanned`` bans; ``services`` are the journal's. Returns how many existed."""
    cluster = is_cluster(client)
    names: set[str] = set()
    global_ips: set[str] = set()
    every_service = set(services)
    for entry in unbanned:
        parsed = parse_ban_key(entry.key)
        if parsed is None:
            continue
        names.update(parsed.bad_behavior_keys(cluster))
        if parsed.service is None:
            global_ips.add(parsed.ip)
        else:
            every_service.add(parsed.service)
    if len(global_ips) * len(every_service) <= BY_NAME_LIMIT:
        names.update(bad_behavior_key(ip, service, cluster) for ip in global_ips for service in every_service)
    else:
        for batch in scan_nodes(client, BAD_BEHAVIOR_PATTERN):
            for key in batch:
                text = key.decode("utf-8", "replace")
                if text.rsplit("_", 1)[-1].strip("{}") in global_ips:  # the IP ends the name, in braces on a cluster
                    names.add(text)
    ordered = [name.encode() for name in sorted(names)]
    chunks = (ordered[start:start + CHUNK] for start in range(0, len(ordered), CHUNK))
    return sum(unlink(client, chunk) if cluster else client.delete(*chunk) for chunk in chunks)
