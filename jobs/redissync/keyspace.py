"""Bounded bulk reads: SCAN in batches, never KEYS, never one round trip per key.

Every job walks BunkerWeb's single database with :func:`scan_batches`: the caller handles one batch
(pipelined reads, then writes) before the next is fetched, so memory stays bounded by the batch size
whatever the keyspace holds. SCAN may return a key twice while Redis rehashes; a compact digest set
drops the repeats so counts and sums stay exact.

On a Redis Cluster SCAN walks one node: :func:`data_nodes` gives every master to walk, and a script may only touch
keys of one hash slot (Redis 6.2 has no ``allow-cross-slot-keys`` flag, and 7's still keeps them on one node), so
:func:`per_key_script` runs a batch's script once per slot, all in one pipeline (one round trip per node). A key's
slot is :func:`slot_of` (Redis's hash-tag rule), and :func:`slot_masters` maps every slot to its master at once, from
the client's slot map (a restore routes each ban by them).
"""

from __future__ import annotations

import threading
from binascii import crc_hqx
from collections import defaultdict
from collections.abc import Iterator
from queue import Full, Queue
from typing import Any, TypeVar, cast

from redis import Redis
from redis.cluster import RedisCluster

SCAN_COUNT = 1000
T = TypeVar("T")
BATCH_SIZE = 1000
ALL_SLOTS = 16384  # a Redis Cluster's hash slots


def _digest(key: bytes) -> int:
    """64 bits are enough to tell keys apart within one process (no need for a keyed or stable hash)."""
    return hash(key)


def scan_batches(client: Redis, match: str | None = None, batch_size: int = BATCH_SIZE, count: int = SCAN_COUNT) -> Iterator[list[bytes]]:
    """Yield lists of at most ``batch_size`` distinct keys matching ``match`` (all keys when None)."""
    seen: set[int] = set()
    batch: list[bytes] = []
    cursor = 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=match, count=count)
        for key in cast("list[bytes]", keys):  # a client of ours never decodes
            digest = _digest(key)
            if digest in seen:
                continue
            seen.add(digest)
            batch.append(key)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if cursor == 0:
            break
    if batch:
        yield batch


def is_cluster(client: Redis | RedisCluster) -> bool:
    return isinstance(client, RedisCluster)


def data_nodes(client: Redis | RedisCluster) -> list[Redis]:
    """The clients whose keyspaces together hold every key: the server itself, or each master of a Redis Cluster
    (the cluster's own per-node clients: its pools, TLS and credentials)."""
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def scan_nodes(client: Redis | RedisCluster, match: str | None = None, batch_size: int = BATCH_SIZE) -> Iterator[list[bytes]]:
    """:func:`scan_batches` over every keyspace that holds keys (:func:`data_nodes`), one after the other."""
    for node in data_nodes(client):
        yield from scan_batches(node, match, batch_size)


def slot_of(key: bytes) -> int:
    """The key's hash slot, by Redis's rule: CRC16 of what lies between the first ``{`` and the next ``}`` when that is
    not empty, else of the whole name. redis-py's ``key_slot`` computes the same for any key type; this one takes
    bytes only, and a restore runs it once per ban (``partition`` is the cheapest split in CPython)."""
    _, brace, rest = key.partition(b"{")
    if brace:
        tag, closed, _ = rest.partition(b"}")
        if closed and tag:
            return crc_hqx(tag, 0) & (ALL_SLOTS - 1)
    return crc_hqx(key, 0) & (ALL_SLOTS - 1)


def slot_masters(client: RedisCluster) -> tuple[list[str], list[int]]:
    """The masters' names and, per hash slot, the index in them of the master serving it (-1: none), from the slot map
    the client holds. Read once for a whole batch of keys: redis-py's lookup per key costs more than writing the key."""
    names: dict[str, int] = {}
    owners = [-1] * ALL_SLOTS
    # redis-py 5.2.1–8.x: slot → [its master, its replicas…]; a snapshot, should a thread of the pass refresh the map
    for slot, nodes in tuple(client.nodes_manager.slots_cache.items()):
        if nodes:
            owners[slot] = names.setdefault(nodes[0].name, len(names))
    return list(names), owners


def _by_slot(client: RedisCluster, keys: list[bytes]) -> list[list[int]]:
    """The positions in ``keys`` of each hash slot's keys."""
    slots: dict[int, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        slots[client.keyslot(key)].append(index)
    return list(slots.values())


def by_master(client: Redis | RedisCluster, keys: list[bytes]) -> list[tuple[Redis, list[int]]]:
    """Each data node's client with the positions in ``keys`` of the keys it serves: the server and every position, or
    each master of a Redis Cluster with its keys' (per the client's slot map)."""
    if not isinstance(client, RedisCluster):
        return [(client, list(range(len(keys))))]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[client.get_node_from_key(key).name].append(index)
    return [(client.get_redis_connection(client.get_node(node_name=name)), indexes) for name, indexes in groups.items()]


def per_key_script(client: Redis | RedisCluster, script: str, keys: list[bytes], *args: Any, width: int = 1) -> list[Any]:
    """The flat reply of a script that returns ``width`` items per key of ``keys``, in ``keys``' order: one EVAL, or on a
    Redis Cluster one EVAL per hash slot, all sent in one pipeline (redis-py routes each to the slot's master)."""
    if not isinstance(client, RedisCluster):
        return cast(list[Any], client.eval(script, len(keys), *keys, *args))
    groups = _by_slot(client, keys)
    pipe = client.pipeline()
    for indexes in groups:  # ClusterPipeline refuses .eval(); redis-py routes a raw EVAL by its keys
        pipe.execute_command("EVAL", script, len(indexes), *(keys[index] for index in indexes), *args)
    flat: list[Any] = [None] * (len(keys) * width)
    for indexes, reply in zip(groups, pipe.execute(), strict=True):
        for position, index in enumerate(indexes):
            flat[index * width:(index + 1) * width] = reply[position * width:(position + 1) * width]
    return flat


def unlink(client: Redis | RedisCluster, keys: list[bytes]) -> int:
    """UNLINK ``keys``; how many existed. On a Redis Cluster a multi-key command stays within one hash slot: one UNLINK
    per slot, all in one pipeline (one round trip per master; a key moved meanwhile is followed, never skipped)."""
    if not keys:
        return 0
    if not isinstance(client, RedisCluster):
        return int(client.unlink(*keys))
    pipe = client.pipeline()
    for indexes in _by_slot(client, keys):
        pipe.execute_command("UNLINK", *(keys[index] for index in indexes))
    return sum(int(count) for count in pipe.execute())


def prefetched(items: Iterator[T], depth: int = 4, name: str = "redissync-prefetch") -> Iterator[T]:
    """``items`` produced by a daemon thread up to ``depth`` ahead (bounded memory), so the producer's
    round trips overlap the consumer's work. The producer's exceptions are raised in the consumer; closing
    the returned generator early stops the producer."""
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((True, item), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((False, None))
        except BaseException as error:  # handed to the consumer, raised in its thread
            queue.put((False, error))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()

    def consume() -> Iterator[T]:
        try:
            while True:
                more, item = queue.get()
                if not more:
                    if item is not None:
                        raise item
                    return
                yield item
        finally:
            stop.set()
            worker.join(timeout=30)

    return consume()


def in_turn(streams: list[Iterator[T]]) -> Iterator[T]:
    """One item of each of ``streams`` in turn until all are done (several :func:`prefetched` producers consumed
    fairly: a Redis Cluster's masters scanned at once); closing this closes them all, which stops their threads."""
    try:
        live = list(streams)
        while live:
            for stream in list(live):
                for item in stream:
                    yield item
                    break
                else:
                    live.remove(stream)
    finally:
        for stream in streams:
            close = getattr(stream, "close", None)
            if close is not None:
                close()


def glob_escape(text: str) -> str:
    """``text`` as a literal inside a SCAN MATCH pattern."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


# Set a TTL only on keys that still have none: the check and the EXPIRE are one atomic step, so a key a
# writer re-created with its own TTL meanwhile keeps it (works on every Redis version, unlike EXPIRE NX).
_EXPIRE_IF_PERSISTENT = """
local bounded = {}
for i, key in ipairs(KEYS) do
  if redis.call('TTL', key) == -1 then
    redis.call('EXPIRE', key, ARGV[1])
    bounded[i] = 1
  else
    bounded[i] = 0
  end
end
return bounded
"""


def expire_if_persistent(client: Redis, keys: list[bytes], ttl: int) -> list[bool]:
    """EXPIRE each key that has no TTL (one script call per batch); which ones were bounded."""
    if not keys:
        return []
    return [bool(flag) for flag in per_key_script(client, _EXPIRE_IF_PERSISTENT, keys, ttl)]


_TYPES_AND_TTLS = """
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('TYPE', key).ok
  out[2 * i] = redis.call('TTL', key)
end
return out
"""


def types_and_ttls(client: Redis, keys: list[bytes]) -> list[tuple[bytes, int]]:
    """(TYPE, TTL) of each key with one script call: one reply to parse instead of two per key."""
    if not keys:
        return []
    flat = per_key_script(client, _TYPES_AND_TTLS, keys, width=2)
    return list(zip(flat[0::2], flat[1::2], strict=True))

