"""Redis Cluster mode's sentences: a cluster node reached as a standalone server, what cluster mode does not do yet,
and the errors only a cluster gives. :mod:`.connection` builds the cluster client and calls :func:`explain_cluster`
first in cluster mode."""

from __future__ import annotations

from redis import Redis
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ConnectionError,
    RedisClusterException,
    TimeoutError,
    TryAgainError,
)

from .errors import RedisSyncError
from .settings import Settings

# Replies only a cluster node sends. redis-py maps them to these classes (their text then lacks the code);
# a version that does not leaves the code at the start of a ResponseError's text.
CLUSTER_ERRORS = (AskError, ClusterCrossSlotError, ClusterDownError, TryAgainError)  # MovedError is an AskError
CLUSTER_CODES = frozenset({"MOVED", "ASK", "CROSSSLOT", "CLUSTERDOWN", "TRYAGAIN"})


def cluster_sentence(label: str) -> str:
    """A cluster node reached as a standalone server (REDIS_HOST) instead of through REDIS_CLUSTER_NODES."""
    return (f"{label} runs in cluster mode (cluster_enabled:1) but REDIS_CLUSTER_NODES is empty: the cluster keeps most "
            "keys on its other nodes, so one node's keys are not the shared state: list the cluster's nodes in "
            "REDIS_CLUSTER_NODES (BunkerWeb 1.6.16+) and leave REDIS_HOST empty, or point REDIS_HOST at a standalone server")


# The jobs and bwcli commands that work across a Redis Cluster's masters (runner names: job file stems, command names).
CLUSTER_READY = frozenset({"redissync-bans", "redissync-metrics", "redissync-sessions", "sessions", "bans"})

# What cluster mode does not do yet (issue 22): said by every other job and bwcli command before it connects.
CLUSTER_PASSES_NOT_YET = ("Redis Cluster mode (REDIS_CLUSTER_NODES) is not supported yet by this job or command (the "
                          "bans, metrics and sessions jobs and `bwcli plugin redissync bans` and `sessions` are): nothing "
                          "was read or written. "
                          "`bwcli plugin redissync check` and the page diagnose the cluster")


def refuse_cluster_mode(client: Redis, settings: Settings) -> None:
    """Jobs act on what one node holds; on a cluster node that is a fraction of the keys, and the bans pass
    would take the rest for unbans. So a cluster node is refused before any work (one INFO per run).
    Cluster mode itself (REDIS_CLUSTER_NODES) is refused earlier, before connecting: :data:`CLUSTER_PASSES_NOT_YET`."""
    if str(client.info("cluster").get("cluster_enabled", 0)) == "1":
        raise RedisSyncError(cluster_sentence(settings.target()))


def explain_cluster(error: BaseException, target: str) -> str | None:
    """What only happens with REDIS_CLUSTER_NODES: no seed answered as a cluster node, the cluster refused a slot, a
    node unreachable at the address the cluster announces. TLS and AUTH errors read as elsewhere (None)."""
    text = first_line(str(error))
    if isinstance(error, ClusterDownError) or text.startswith("CLUSTERDOWN"):
        return (f"the {target} refuses commands ({text}): some slots are not served; `bwcli plugin redissync check` names "
                "the shard and what to do")
    if isinstance(error, RedisClusterException):
        return (f"redis-py's cluster client found no usable seed node in the {target} ({text}): check REDIS_CLUSTER_NODES, "
                "REDIS_SSL, REDIS_USERNAME/REDIS_PASSWORD and, for an ACL user, +cluster|slots +command; `bwcli plugin "
                "redissync check` says which")
    lowered = text.lower()
    if isinstance(error, (ConnectionError, TimeoutError)) and not any(
            marker in lowered for marker in ("ssl", "certificate", "wrong version number", "record layer")):
        return (f"a node of the {target} cannot be reached ({text}): check REDIS_CLUSTER_NODES and that every node is "
                "reachable from here at the address it announces (cluster-announce-ip/cluster-announce-port)")
    return None


def first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "no detail"
