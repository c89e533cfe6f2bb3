"""Did Redis lose data since the last pass, or were missing bans deleted on purpose?

A ban that was in the journal and is no longer in Redis is either an **unban** (BunkerWeb DELetes the
key) or **data loss** (FLUSHALL/FLUSHDB, a restart without persistence, a failover to a replica that
missed writes, eviction). The keys look the same; the server does not. Each pass records:

* the generation marker ``redissync:generation`` (a random token the job creates when it is missing:
  a flush or an empty restart removes it with the bans);
* the server's ``run_id`` (new process), ``master_replid`` + ``master_repl_offset`` (its replication
  history and how far it had got when the pass ended) and ``evicted_keys``.

The data set is *continuous* — so a missing ban was deleted on purpose — only when the marker is the same
and either the same process still runs the same replication history at an offset at least as far, or the
server is a promoted replica whose previous history (``master_replid2``) is the one we recorded and which
took over (``second_repl_offset``) *after* the offset of our last pass, i.e. it had received every write
we had seen. A promoted replica that lagged has a lower ``second_repl_offset``: the bans written after its
last sync are then restored, not mistaken for unbans. Anything else is treated as loss: restoring a ban
that was lifted seconds before a crash is the safe mistake; forgetting a ban is not.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import cast

from redis import Redis

from ..keys import GENERATION_KEY


@dataclass(frozen=True)
class ServerIdentity:
    run_id: str
    replid: str
    replid2: str
    offset: int
    second_offset: int
    evicted: int
    marker: str | None

    @classmethod
    def read(cls, client: Redis, marker_key: str | None = GENERATION_KEY) -> ServerIdentity:
        """The server's facts and the marker at ``marker_key`` (None: not read; a cluster shard's is read apart)."""
        server, replication, stats = client.info("server"), client.info("replication"), client.info("stats")
        marker = cast("bytes | None", client.get(marker_key)) if marker_key is not None else None
        return cls(
            run_id=str(server.get("run_id", "")),
            replid=str(replication.get("master_replid", "")),
            replid2=str(replication.get("master_replid2", "")),
            offset=int(replication.get("master_repl_offset", 0)),
            second_offset=int(replication.get("second_repl_offset", -1)),
            evicted=int(stats.get("evicted_keys", 0)),
            marker=marker_text(marker),
        )

    def same_history(self, other: ServerIdentity) -> bool:
        """Same process, same replication history, same marker: nothing happened between two reads."""
        return (self.run_id, self.replid, self.marker) == (other.run_id, other.replid, other.marker)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ServerIdentity | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError):
            return None


def marker_text(raw: bytes | None) -> str | None:
    """A generation marker as read from Redis (None: missing), as the record keeps it."""
    return raw.decode("utf-8", "replace") if raw is not None else None


@dataclass(frozen=True)
class Verdict:
    """``lost`` True: restore what is missing; False: what is missing was deleted on purpose."""

    lost: bool
    reason: str

    def lost_for(self, key: bytes) -> bool:
        """One server's verdict holds for every key (a cluster's is per shard: bans/shards.py)."""
        return self.lost


def judge(previous: ServerIdentity | None, current: ServerIdentity, marker: str = GENERATION_KEY) -> Verdict:
    """``marker``: the name of the marker ``current.marker`` was read from (a cluster shard has its own)."""
    if previous is None:
        return Verdict(True, "first pass (nothing recorded yet)")
    if current.marker is None:
        return Verdict(True, f"{marker} is missing: Redis was flushed or restarted without persistence")
    if current.marker != previous.marker:
        return Verdict(True, f"{marker} changed: the data set was replaced since the last pass")
    if current.run_id == previous.run_id and current.replid == previous.replid and current.offset >= previous.offset:
        if current.evicted != previous.evicted and current.evicted > 0:
            return Verdict(True, f"Redis evicted {current.evicted - previous.evicted} keys since the last pass "
                                 "(bans may be among them: raise maxmemory; with maxmemory-policy noeviction nothing is evicted)")
        return Verdict(False, "same server and replication history")
    if current.replid2 == previous.replid and current.second_offset > previous.offset:
        return Verdict(False, "promoted replica that had every write of the last pass")
    if current.replid2 == previous.replid:
        return Verdict(True, f"failover to a replica that missed {previous.offset - current.second_offset + 1} bytes of writes")
    return Verdict(True, "a different Redis server or a restart (failover or restart with persistence)")


def ensure_marker(client: Redis) -> None:
    """Create the generation marker if it is missing; SET NX so concurrent schedulers agree on one token."""
    client.set(GENERATION_KEY, uuid.uuid4().hex, nx=True)
