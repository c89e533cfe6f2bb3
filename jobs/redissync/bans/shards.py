"""Redis Cluster: the bans pass judges data loss shard by shard (bans/identity.py judges one server).

A shard (a master and its replicas) can lose its data while the others keep theirs, and a failover inside one
shard is not a loss. So, per master, the pass records what :mod:`.identity` records for one server (run id,
replication history and offset, evictions) and reads a generation marker of its own:
``redissync:generation:{<tag>}``, whose hash tag is chosen to land in one of that shard's slots (a flush of
the shard removes it with the bans). A shard is followed from one pass to the next through its replication
history, which a promoted replica carries on (``master_replid2``), not through a node id or an address.

A missing ban is judged by the shard that serves its slot now (:meth:`ClusterState.judge`). Slots that moved
between two passes moved with their keys (``MIGRATE``), so a ban missing from a shard whose history is
continuous was deleted on purpose. A shard whose marker's slot moved away cannot vouch for itself this pass:
its missing bans are restored (the safe mistake, as after a failover of unknown history) and the marker is put
back into one of its own slots.

A pass during a reshard could see a key twice, or not at all, as it moves between two masters while they are
scanned. :meth:`ClusterState.same_history` therefore also compares every master's slots and refuses
any open migration (``[slot->-node]`` / ``[slot-<-node]`` in ``CLUSTER NODES``): the pass then judges nothing.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

from redis import Redis
from redis.cluster import RedisCluster

from ..keys import SHARD_GENERATION_KEY
from ..keyspace import ALL_SLOTS, data_nodes, slot_of
from ..lock import reclaim_own_keys
from .identity import ServerIdentity, Verdict, ensure_marker, judge, marker_text

Ranges = tuple[tuple[int, int], ...]


def marker_key(tag: str) -> str:
    """A shard's generation marker (keys.SHARD_GENERATION_KEY): the tag is its hash tag, so it lives in the shard's slots."""
    return SHARD_GENERATION_KEY.format(tag=tag)


def _owns(ranges: Ranges, slot: int) -> bool:
    return any(first <= slot <= last for first, last in ranges)


def choose_tag(ranges: Ranges, taken: Iterable[str] = ()) -> str:
    """The first ``s<n>`` whose slot is one of ``ranges`` (a few tries: a shard of 3 holds a third of the slots)."""
    used = set(taken)
    for number in itertools.count():
        tag = f"s{number}"
        if tag not in used and _owns(ranges, slot_of(tag.encode())):
            return tag
    raise AssertionError("unreachable")  # pragma: no cover


def own_slots(cluster_nodes: str) -> tuple[Ranges, bool]:
    """From a node's ``CLUSTER NODES``: the slots it serves and whether it has a migration open (its own line only:
    a node lists its importing/migrating slots as ``[slot-<-id]`` / ``[slot->-id]`` there and nowhere else)."""
    for line in cluster_nodes.splitlines():
        fields = line.split()
        if len(fields) >= 8 and "myself" in fields[2].split(","):
            served = [item for item in fields[8:] if not item.startswith("[")]
            ranges = tuple((int(item.split("-")[0]), int(item.split("-")[-1])) for item in served)
            return ranges, len(served) < len(fields[8:])
    return (), False


@dataclass(frozen=True)
class Shard:
    ranges: Ranges
    tag: str
    identity: ServerIdentity

    def owns(self, slot: int) -> bool:
        return _owns(self.ranges, slot)

    def follows(self, previous: Shard) -> bool:
        """This shard carries on ``previous``'s replication history (the same master, or its promoted replica)."""
        return previous.identity.replid in (self.identity.replid, self.identity.replid2)


@dataclass(frozen=True)
class ClusterVerdict:
    """Each current shard's verdict; a missing ban's is the one of the shard serving its slot."""

    shards: tuple[tuple[Shard, Verdict], ...]
    _lost_slots: bytes = field(init=False, repr=False, compare=False)  # per slot: 1 = lost (or no shard serves it)

    def __post_init__(self) -> None:
        table = bytearray(b"\x01" * ALL_SLOTS)
        for shard, verdict in self.shards:
            for first, last in shard.ranges if not verdict.lost else ():
                table[first:last + 1] = bytes(last - first + 1)
        object.__setattr__(self, "_lost_slots", bytes(table))

    def lost_for(self, key: bytes) -> bool:
        return bool(self._lost_slots[slot_of(key)])

    @property
    def all_lost(self) -> bool:
        return all(verdict.lost for _, verdict in self.shards)

    @property
    def lost(self) -> bool:
        """Some shard lost data (its missing bans are restored; the other shards' are unbans)."""
        return any(verdict.lost for _, verdict in self.shards)

    @property
    def reason(self) -> str:
        lost = [(shard, verdict) for shard, verdict in self.shards if verdict.lost]
        if not lost:
            return f"every shard ({len(self.shards)}) kept its data"
        if len(lost) == len(self.shards) and len({verdict.reason for _, verdict in lost}) == 1:
            return f"every shard ({len(lost)}): {lost[0][1].reason}"
        return "; ".join(f"shard {_ranges_text(shard.ranges)}: {verdict.reason}" for shard, verdict in lost)


@dataclass(frozen=True)
class ClusterState:
    """The masters' slots, identities and markers at one moment, and whether a slot migration was open."""

    shards: tuple[Shard, ...]
    moving: bool = False
    nodes: tuple[Redis, ...] = field(default=(), compare=False)  # each shard's master, for the markers

    @classmethod
    def read(cls, client: RedisCluster, previous: ClusterState | None) -> ClusterState:
        """Every master's facts, straight from that master. A shard keeps its marker's tag while the tag's slot
        stays in it; otherwise (a new shard, or the slot moved away) it gets a tag in its slots now."""
        shards: list[Shard] = []
        nodes: list[Redis] = []
        moving = False
        for node in data_nodes(client):
            raw = node.execute_command("CLUSTER", "NODES")
            ranges, migrating = own_slots(raw.decode() if isinstance(raw, bytes) else str(raw))
            moving = moving or migrating
            identity = ServerIdentity.read(node, marker_key=None)
            followed = _followed(Shard(ranges, "", identity), previous)
            taken = [shard.tag for shard in shards]
            if followed is not None and followed.tag not in taken and _owns(ranges, slot_of(followed.tag.encode())):
                tag = followed.tag
            else:
                tag = choose_tag(ranges, taken) if ranges else ""
            marker = None
            if tag and not migrating:
                reclaim_own_keys(node, {marker_key(tag): "string"})  # another type there would fail every pass
                marker = cast("bytes | None", node.get(marker_key(tag)))
            identity = replace(identity, marker=marker_text(marker))
            shards.append(Shard(ranges, tag, identity))
            nodes.append(node)
        order = sorted(range(len(shards)), key=lambda index: shards[index].ranges)
        return cls(tuple(shards[index] for index in order), moving, tuple(nodes[index] for index in order))

    @property
    def covered(self) -> bool:
        return sum(last - first + 1 for shard in self.shards for first, last in shard.ranges) == ALL_SLOTS

    def same_history(self, other: ClusterState) -> bool:
        """Nothing moved between two reads: no migration open, the same slots per master, each master the same
        process and history with the same marker."""
        return (not self.moving and not other.moving and self.covered and len(self.shards) == len(other.shards)
                and all(mine.ranges == theirs.ranges and mine.identity.same_history(theirs.identity)
                        for mine, theirs in zip(self.shards, other.shards, strict=True)))

    def judge(self, previous: ClusterState | None) -> ClusterVerdict:
        """Per shard: :func:`.identity.judge` against the shard it follows (none: a new or emptied shard, lost)."""
        verdicts = []
        for shard in self.shards:
            before = _followed(shard, previous)
            if previous is not None and before is None:
                verdicts.append((shard, Verdict(True, "no shard of the last pass carries on into it (a restart, a new "
                                                      "master or a replaced shard)")))
            elif before is not None and before.tag != shard.tag:
                verdicts.append((shard, Verdict(True, "its marker's slot moved to another shard: a flush cannot be told "
                                                      "from unbans this pass")))
            else:
                verdicts.append((shard, judge(before.identity if before else None, shard.identity, marker_key(shard.tag))))
        return ClusterVerdict(tuple(verdicts))

    def ensure_markers(self, client: RedisCluster, previous: ClusterState | None) -> None:
        """Each shard's marker, created where missing (SET NX on its master: concurrent schedulers agree on one);
        the markers of the last pass no shard uses any more (their slot moved away with them) deleted."""
        for shard, node in zip(self.shards, self.nodes, strict=True):
            if shard.tag:
                node.set(marker_key(shard.tag), uuid.uuid4().hex, nx=True)
        stale = {shard.tag for shard in previous.shards} - {shard.tag for shard in self.shards} if previous else set()
        for tag in sorted(stale):
            client.delete(marker_key(tag))  # routed to wherever its slot lives now

    def to_json(self) -> str:
        return json.dumps({"shards": [{"ranges": shard.ranges, "tag": shard.tag, "identity": asdict(shard.identity)}
                                      for shard in self.shards]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ClusterState | None:
        if not text:
            return None
        try:
            data: Any = json.loads(text)
            return cls(tuple(Shard(tuple((int(first), int(last)) for first, last in item["ranges"]), str(item["tag"]),
                                   ServerIdentity(**item["identity"])) for item in data["shards"]))
        except (TypeError, ValueError, KeyError):
            return None


def _ranges_text(ranges: Ranges) -> str:
    return ",".join(f"{first}-{last}" if first != last else str(first) for first, last in ranges) or "without slots"


def _followed(shard: Shard, previous: ClusterState | None) -> Shard | None:
    """The shard of the previous pass whose history ``shard`` carries on, if any."""
    return next((old for old in previous.shards if shard.follows(old)), None) if previous is not None else None


# -- one server or a cluster's shards: what the pass (bans/cycle.py) calls -------------------------------------
State = ServerIdentity | ClusterState
IDENTITY_META = "identity"  # the journal's meta: a server's identity, or (cluster mode) every shard's
CLUSTER_IDENTITY_META = "cluster_identity"


def recorded(get_meta: Callable[[str], str | None], cluster: bool) -> State | None:
    """What the last pass in this mode recorded (nothing: the first pass in it)."""
    if cluster:
        return ClusterState.from_json(get_meta(CLUSTER_IDENTITY_META))
    return ServerIdentity.from_json(get_meta(IDENTITY_META))


def read_state(client: Redis, previous: State | None) -> State:
    if isinstance(client, RedisCluster):
        return ClusterState.read(client, previous if isinstance(previous, ClusterState) else None)
    return ServerIdentity.read(client)


def unchanged(before: State, after: State) -> bool:
    """No failover, flush or (cluster) slot move between the two reads."""
    if isinstance(before, ClusterState) and isinstance(after, ClusterState):
        return before.same_history(after)
    return isinstance(before, ServerIdentity) and isinstance(after, ServerIdentity) and before.same_history(after)


def judge_state(previous: State | None, current: State) -> Verdict | ClusterVerdict:
    if isinstance(current, ClusterState):
        return current.judge(previous if isinstance(previous, ClusterState) else None)
    return judge(previous if isinstance(previous, ServerIdentity) else None, current)


def ensure_markers(client: Redis, state: State, previous: State | None) -> None:
    """The generation marker(s), created where missing (SET NX: concurrent schedulers agree on one token)."""
    if isinstance(state, ClusterState) and isinstance(client, RedisCluster):
        state.ensure_markers(client, previous if isinstance(previous, ClusterState) else None)
    else:
        ensure_marker(client)


def record(before: State, final: State) -> tuple[str, str] | None:
    """``(meta name, JSON)`` to record after the pass, or None when a server changed since ``before`` (the next pass
    then judges against the older record)."""
    if isinstance(before, ClusterState) and isinstance(final, ClusterState):
        same = [(shard.ranges, shard.identity.run_id, shard.identity.replid) for shard in before.shards] == \
               [(shard.ranges, shard.identity.run_id, shard.identity.replid) for shard in final.shards]
        return (CLUSTER_IDENTITY_META, final.to_json()) if same and not final.moving else None
    if isinstance(before, ServerIdentity) and isinstance(final, ServerIdentity):
        same = final.run_id == before.run_id and final.replid == before.replid
        return (IDENTITY_META, final.to_json()) if same else None
    return None
