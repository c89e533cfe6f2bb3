"""Reading every ban in Redis in bulk (the row each becomes is :mod:`.entry`'s).

One round trip per batch, never per key: a read-only Lua script runs ``SCAN``, keeps the ban keys
(:func:`.scan_scripts.is_ban_key`, checked in Lua so Python never sees foreign keys) and answers a flat list that Python
walks without building a tuple per ban. Two readings:

* :meth:`BanScanner.expiries`, every pass: ``[key, pttl, key, pttl, …]``, and ``[key, value, pttl, …]`` for the
  bans of the slice the pass verifies (:func:`.scan_scripts.slice_of`; bans/absorb.py), read by the same call. Redis's side is
  then ``SCAN`` + ``PTTL`` (about half of what reading values costs it), and the pass fetches with
  :meth:`BanScanner.values` only what it must read: new keys and moved expiries (BunkerWeb's ``SET … EX`` always
  sets a fresh one). ``PTTL`` rather than ``PEXPIRETIME``: Redis 6.2 lacks the latter
  and the documented ACL rule does not grant it; each batch's answer time makes ``PTTL`` absolute.
* :meth:`BanScanner.batches`, when the journal is empty (a first pass): ``[key, value, pttl, …]`` in one go.

Values are read with ``GET`` (not ``MGET``: the documented ACL rule does not grant it, and a denial inside a
script fills the ACL log); values above :data:`MAX_VALUE_BYTES` come back as their length only (a hostile
100 MB value cannot blow the job's memory) and are then fetched on their own. Every script call is bounded
in keys (:data:`SCAN_COUNT`, :data:`VALUES_SCAN_COUNT`, :data:`VALUES_COUNT`) and in value bytes
(:data:`REPLY_BYTES`: past it, values come back as lengths too), so none holds Redis for more than a millisecond
or two: every instance's ban check waits behind it (issue 24: no command above 5 ms at 1M bans). A server that
refuses scripts (an ACL without ``+@scripting``) gets the same data from ``SCAN`` + pipelined ``PTTL`` (+ ``STRLEN`` + ``MGET`` for values).

On a Redis Cluster ``SCAN`` walks one node: every master is scanned (one thread each) and values are read on the
master holding them. A batch spans hundreds of slots of its node, which only a script *without* a shebang may touch
undeclared (Redis 7: ``#!lua`` needs ``allow-cross-slot-keys``; declared ``KEYS`` of several slots are CROSSSLOT):
so the scripts stay shebang-less (Redis 6.2 runs them the same) and take a node's keys as ``ARGV``, one call per
batch per node, not one per slot, i.e. per ban (docs/bans.md, Redis Cluster, says what was measured). A key the node
cannot serve (a slot it imports mid-reshard) is skipped; the pass sees the migration and judges nothing (bans/shards.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from redis import Redis
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from ..clock import now_ms
from ..connection import scripting_refused
from ..keyspace import by_master, data_nodes, in_turn, is_cluster, prefetched
from .entry import MAX_VALUE_BYTES
from .scan_scripts import SCAN_SCRIPT, VALUES_SCRIPT, VERIFY_SLICES, is_ban_key, slice_of

# Keys per script call, measured at 300k bans (Redis 7.0, its main thread alone on a core): SCAN + PTTL costs
# ≈ 1.9 µs per key, ≈ 1 ms per call at 500 (fewer keys per call cost more per key: 2.2 µs at 200; more, too:
# + 0.05–0.1 µs at 1,000 and 2,000, the batch's keys out of cache before their PTTL); with GET, ≈ 3.4 µs per key
# (1,000 keys took 4–4.5 ms). A first pass at 500 rather than 250 (same-run A/B at 300k, 4 passes each): −4 % wall,
# −0.4 µs of client CPU per ban, but 2 of its 4 passes logged a call above 5 ms (2 ms of work preempted), none at 250.
SCAN_COUNT = 500  # keys examined per call reading expiries (every pass)
VALUES_SCAN_COUNT = 250  # … per call reading values too (a first pass)
VALUES_COUNT = 250  # keys per values call
REPLY_BYTES = 512 * 1024  # value bytes per call; the values past it come back as lengths, then fetched alone
SCAN_MATCH = "bans_*"  # one pass covers bans_ip_* and bans_service_*_ip_*; filtered by is_ban_key
WRONG_TYPE = -1  # the value slot of a key that is not a string
GONE = -2  # the value slot of a key deleted since its expiry was read

# One batch: (stamp_ms, flat list), or for expiries (stamp_ms, [key, pttl, …], [key, value, pttl, …]). ``stamp_ms``
# is when Redis answered, so ``stamp_ms + pttl`` is the ban's absolute expiry however long the batch then waits in
# the prefetch queue.
Batch = tuple[Any, ...]


class BanScanner:
    """Iterates over every ban in Redis, one batch (≈ ``count`` keys examined) at a time.

    With ``prefetched`` a thread fetches the next batch while the caller digests the current one: the
    server's work and ours overlap instead of taking turns (the bounded queue keeps memory flat)."""

    def __init__(self, client: Redis, count: int = SCAN_COUNT, use_script: bool = True):
        self.client = client
        self.nodes = data_nodes(client)  # the server, or a Redis Cluster's masters (prefetched: scanned at once)
        self.cluster = is_cluster(client)
        self.count = count
        self.round_trips = 0
        self._script = client.register_script(SCAN_SCRIPT) if use_script else None
        self._values = client.register_script(VALUES_SCRIPT) if use_script else None

    def batches(self) -> Iterator[Batch]:
        """``(stamp, [key, value, pttl, …])`` for every ban."""
        return self._walk(with_values=True)

    def expiries(self, verified: int | None = None) -> Iterator[Batch]:
        """``(stamp, [key, pttl, …], [key, value, pttl, …])`` for every ban: a value travels only for a ban of the
        ``verified`` slice (:func:`.scan_scripts.slice_of`), read by the same call (no second lookup of its key, no second trip)."""
        return self._walk(with_values=False, verified=verified)

    def prefetched(self, depth: int = 8, with_values: bool = True, verified: int | None = None) -> Iterator[Batch]:
        """:meth:`batches` (or :meth:`expiries`) produced by a background thread started *now*
        (:func:`..keyspace.prefetched`); on a Redis Cluster one thread per master, so the masters scan at once
        (each its own process), their batches handed out in turn."""
        if len(self.nodes) == 1:
            return prefetched(self._walk(with_values, verified), depth, name="redissync-bans-scan")
        return in_turn([prefetched(self._walk_node(node, with_values, verified), depth, name=f"redissync-bans-scan-{index}")
                        for index, node in enumerate(self.nodes)])

    def values(self, keys: list[bytes]) -> Batch:
        """``(stamp, [value, pttl, …])`` for ``keys``, in their order; the value is :data:`WRONG_TYPE` for a
        key that is not a string and :data:`GONE` for one deleted since it was scanned."""
        flat: list[Any] = [None] * (2 * len(keys))
        for node, indexes in by_master(self.client, keys):  # on a Redis Cluster, each master's keys read on it
            for start in range(0, len(indexes), VALUES_COUNT):
                chunk = indexes[start:start + VALUES_COUNT]
                reply = self._values_on(node, [keys[index] for index in chunk])
                for position, index in enumerate(chunk):
                    flat[2 * index:2 * index + 2] = reply[2 * position:2 * position + 2]
        stamp = now_ms()
        for index in range(0, len(flat), 2):
            flat[index] = self._complete(keys[index // 2], flat[index])
        return stamp, flat

    def _values_on(self, node: Redis, keys: list[bytes]) -> list[Any]:
        """``[value, pttl, …]`` of ``keys``, all on ``node``: declared on a server, undeclared on a cluster node (they
        span many slots, which only an undeclared script may touch: docs/bans.md, Redis Cluster)."""
        if self._values is not None:
            try:
                if self.cluster:
                    reply = self._values(keys=[], args=[MAX_VALUE_BYTES, REPLY_BYTES, *keys], client=node)
                else:
                    reply = self._values(keys=keys, args=[MAX_VALUE_BYTES, REPLY_BYTES])
                self.round_trips += 1
                return cast("list[Any]", reply)
            except ResponseError as error:
                if not scripting_refused(error):
                    raise
                self._script = self._values = None
        flat: list[Any] = []
        for _key, value, pttl in _triples(self._pipelined_values(keys, keep_gone=True)):
            flat += (value, pttl)
        return flat

    def _walk(self, with_values: bool, verified: int | None = None) -> Iterator[Batch]:
        for node in self.nodes:
            yield from self._walk_node(node, with_values, verified)

    def _walk_node(self, node: Redis, with_values: bool, verified: int | None = None) -> Iterator[Batch]:
        cursor = b"0"
        while True:
            cursor, flat, valued = self._one_batch(node, cursor, with_values, verified)
            stamp = now_ms()
            if with_values:
                if valued:
                    for index in range(1, len(valued), 3):
                        valued[index] = self._complete(valued[index - 1], valued[index])
                    yield stamp, valued
            elif flat or valued:
                yield stamp, flat, valued
            if cursor in (b"0", 0, "0"):
                return

    def _one_batch(self, node: Redis, cursor: bytes, with_values: bool,
                   verified: int | None) -> tuple[bytes, list[Any], list[Any]]:
        """One SCAN step on ``node`` (the server, or one cluster master) and what it found: ``[key, pttl, …]`` and
        ``[key, value, pttl, …]`` (every key with ``with_values``, else those of the ``verified`` slice)."""
        count = min(self.count, VALUES_SCAN_COUNT) if with_values else self.count
        slices, verified = (1, 0) if with_values else (VERIFY_SLICES, -1 if verified is None else verified)
        if self._script is not None:
            try:
                reply = self._script(args=[cursor, SCAN_MATCH, count, MAX_VALUE_BYTES, REPLY_BYTES, slices, verified],
                                     client=node)
                self.round_trips += 1
            except ResponseError as error:
                if not scripting_refused(error):
                    raise
                self._script = self._values = None  # no scripting for this user: fall back to a pipeline
            else:
                return reply[0], reply[1], reply[2]
        reply = node.scan(cursor, match=SCAN_MATCH, count=count)  # type: ignore[arg-type]  # Redis's own cursor bytes
        cursor, keys = cast("tuple[bytes, list[bytes]]", reply)
        self.round_trips += 1
        keys = [key for key in keys if is_ban_key(key)]
        if with_values:
            return cursor, [], self._pipelined_values(keys) if keys else []
        sliced = [key for key in keys if slice_of(key) == verified]
        keys = [key for key in keys if slice_of(key) != verified]
        flat: list[Any] = []
        if keys:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(key)
            self.round_trips += 1
            for key, pttl in zip(keys, pipe.execute(), strict=True):
                if pttl != -2:  # gone between SCAN and PTTL
                    flat += (key, pttl)
        return cursor, flat, self._pipelined_values(sliced) if sliced else []

    def _pipelined_values(self, keys: list[bytes], keep_gone: bool = False) -> list[Any]:
        """``[key, value, pttl, …]`` read without scripting; a key deleted meanwhile is left out, or with
        ``keep_gone`` answered as :data:`GONE`."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.strlen(key)
            pipe.pttl(key)
        replies = pipe.execute(raise_on_error=False)
        self.round_trips += 1
        for reply in replies:  # WRONGTYPE (STRLEN of a hash…) is data; any other error (NOPERM…) fails the pass
            if isinstance(reply, Exception) and not (isinstance(reply, ResponseError) and "WRONGTYPE" in str(reply)):
                raise reply
        values: dict[bytes, bytes | None] = {}
        for group in _by_bytes(keys, replies[0::2]):
            fetched = cast("RedisCluster", self.client).mget_nonatomic(group) if self.cluster else self.client.mget(group)
            values.update(zip(group, cast("list[bytes | None]", fetched), strict=True))
            self.round_trips += 1
        flat: list[Any] = []
        for key, length, pttl in zip(keys, replies[0::2], replies[1::2], strict=True):
            if not isinstance(length, int):
                flat += (key, WRONG_TYPE, pttl)
            elif pttl == -2 or (length and values.get(key, b"") is None):
                if keep_gone:
                    flat += (key, GONE, -2)
            elif length > MAX_VALUE_BYTES:
                flat += (key, length, pttl)
            else:
                flat += (key, values.get(key, b""), pttl)
        return flat

    def _complete(self, key: bytes, value: Any) -> Any:
        """A value too large to travel inside a batch reply, fetched on its own (rare)."""
        if value.__class__ is int and value > 0:
            fetched = self.client.get(key)
            self.round_trips += 1
            return fetched if fetched is not None else b""
        return value


def _triples(flat: list[Any]) -> Iterator[tuple[Any, Any, Any]]:
    walk = iter(flat)
    return zip(walk, walk, walk, strict=True)


def _by_bytes(keys: list[bytes], lengths: list[Any]) -> Iterator[list[bytes]]:
    """The keys of non-empty string values up to :data:`MAX_VALUE_BYTES`, in groups of at most :data:`REPLY_BYTES`
    (an ``MGET`` of 500 large values would hold Redis for as long as it copies them)."""
    group: list[bytes] = []
    size = 0
    for key, length in zip(keys, lengths, strict=True):
        if isinstance(length, int) and 0 < length <= MAX_VALUE_BYTES:
            if group and size + length > REPLY_BYTES:
                yield group
                group, size = [], 0
            group.append(key)
            size += length
    if group:
        yield group
