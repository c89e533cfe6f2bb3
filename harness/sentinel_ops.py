"""Failover operations on a :class:`SentinelTopology` for failovers in a row (kept out of sentinel.py).

A topology has two data nodes, so after each failover the node that lost its role must come back as a
replica of the new master (a SIGKILLed node is restarted on its port with ``replicaof``; a paused or
failed-over node is demoted by the sentinels) before the next failover has a replica to promote.

Each fault returns a :class:`Promotion` that says *when* the test bed first saw the new master: every live
sentinel names it and the node itself answers ``role:master``. That moment is the origin of the
promotion → first write figure; the old master's demotion may come seconds later (see ``wait_for_demotion``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .sentinel import FAILOVER_TIMEOUT, MASTER_NAME, SentinelTopology, sentinel_view
from .servers import RedisServer, wait_until


@dataclass(frozen=True)
class Promotion:
    kind: str
    old_port: int
    new: RedisServer
    observed: float  # time.monotonic() when the test bed first saw the new master
    seconds: float  # from the fault to that moment


def current_master(topology: SentinelTopology) -> RedisServer:
    return topology.node_on(topology.master_port())


def wait_for_new_master(topology: SentinelTopology, old_port: int, timeout: float = FAILOVER_TIMEOUT) -> tuple[RedisServer, float]:
    """Every live sentinel names one master other than ``old_port`` and that node says it is a master;
    returns it and the monotonic time this was first observed (the old master may not be demoted yet)."""

    def elected() -> int | None:
        ports = {topology.master_port(s) for s in topology.sentinels if s.process is not None}
        if len(ports) != 1 or old_port in ports:
            return None
        port = ports.pop()
        return port if topology.node_on(port).client(socket_timeout=1).info("replication")["role"] == "master" else None

    port = wait_until(elected, timeout, f"the sentinels to elect a master other than port {old_port}")
    return topology.node_on(port), time.monotonic()


def _finish(topology: SentinelTopology, kind: str, old: RedisServer, started: float) -> Promotion:
    new, observed = wait_for_new_master(topology, old.port)
    return Promotion(kind, old.port, new, observed, observed - started)


def kill_master(topology: SentinelTopology) -> Promotion:
    """SIGKILL the master; the sentinels promote the replica after down-after-milliseconds."""
    old = current_master(topology)
    started = time.monotonic()
    old.stop(hard=True)
    promotion = _finish(topology, "sigkill", old, started)
    topology.wait_for_promotion(old.port)
    return promotion


def manual_failover(topology: SentinelTopology) -> Promotion:
    """``SENTINEL FAILOVER``: the replica is promoted, then the sentinels demote the old master."""
    old = current_master(topology)
    started = time.monotonic()
    topology.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
    return _finish(topology, "sentinel-failover", old, started)


def pause_master(topology: SentinelTopology) -> Promotion:
    """SIGSTOP the master until the sentinels have promoted the replica (longer than down-after by
    construction), then SIGCONT it: it comes back believing it is a master and the sentinels demote it."""
    old = current_master(topology)
    started = time.monotonic()
    old.pause()
    try:
        promotion = _finish(topology, "pause", old, started)
    finally:
        old.resume()
    return promotion


def wait_for_demotion(topology: SentinelTopology, promotion: Promotion) -> None:
    """The old master, if it runs, has been turned into a replica (until then it may accept writes)."""
    topology.wait_for_promotion(promotion.old_port)


def rejoin_as_replica(topology: SentinelTopology, node: RedisServer, master: RedisServer) -> None:
    """Restart a killed ``node`` on its port as a replica of ``master`` (persistence is off: it starts empty
    and takes a full sync)."""
    node.extra = [line for line in node.extra if not line.startswith("replicaof ")] + [f"replicaof 127.0.0.1 {master.port}"]
    node.start()


def wait_ready_for_failover(topology: SentinelTopology, timeout: float = FAILOVER_TIMEOUT) -> tuple[RedisServer, RedisServer]:
    """The master has a replica in sync that every sentinel sees as healthy: the next failover can promote it.
    Also keeps ``topology.master``/``topology.replica`` pointing at the nodes' current roles."""
    master = current_master(topology)
    replica = next(node for node in topology.nodes if node.port != master.port)
    topology.master, topology.replica = master, replica

    def ready() -> bool:
        info = replica.client(socket_timeout=1).info("replication")
        if info.get("role") != "slave" or int(info.get("master_port", 0)) != master.port or info.get("master_link_status") != "up":
            return False
        for sentinel in topology.sentinels:
            seen = [r for r in sentinel_view(sentinel.client(), "REPLICAS") if r["port"] == replica.port]
            if not seen or seen[0]["is_sdown"] or seen[0]["is_odown"] or seen[0].get("master-link-status") != "ok":
                return False
        return True

    wait_until(ready, timeout, f"replica {replica.port} to sync with master {master.port} and every sentinel to see it")
    return master, replica
