"""Journaled bans written back to Redis: ``SET key value NX [PX remaining]``, never over a live key.

Used by the pass after data loss, by ``bans import``, by a switch to or from Redis Cluster and for bans only an
instance held (which need to know which bans were written: ``written``). NX because a ban an instance re-created
meanwhile is newer than ours. One script call per batch of :data:`CHUNK` keys:
the Python side of a pipeline of SETs (packing and parsing one reply per ban) costs more than Redis does.
The calls are streamed (:mod:`..streaming`), so Redis runs one batch while the next is read from the
journal and packed; a user who may not run scripts gets the same SETs streamed one command per ban.

On a Redis Cluster each ban goes to the master serving its slot (:func:`restore_on_cluster`): the batches are
filled per master and each is one script call on it, its keys undeclared (they span many slots of that node,
which only a script without a shebang may touch: docs/bans.md, Redis Cluster). A key whose slot moved since the
slot map was read is refused by the node (``redis.pcall``) and then written through the cluster client, which
follows MOVED/ASK; SET NX makes a second attempt harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, NamedTuple

from redis import Redis
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from ..clock import now_ms
from ..connection import scripting_refused
from ..keyspace import slot_masters, slot_of
from ..streaming import Stream

CHUNK = 250  # bans per script call: ≈ 1.2 ms of Redis (a SET NX PX costs it 4–5 µs); each instance's ban check waits behind it
EXPIRY_GRACE_MS = 1_000  # a ban with less left than this is treated as expired, never resurrected
RESTORE_BYTES = 512 * 1024  # value bytes per call: copying them holds Redis too (a hostile journal cannot build a huge command)

# KEYS = the bans; ARGV[1] = their remaining ms, space-separated (0 = permanent); ARGV[2…] = their values.
# One argument for every TTL rather than one each: packing arguments is most of the job's side of a restore.
# Returns one flag a ban: 1 written, 0 already there.
_RESTORE_SCRIPT = """
local flags, i = {}, 0
for ttl in string.gmatch(ARGV[1], '%d+') do
  i = i + 1
  local done
  if ttl ~= '0' then
    done = redis.call('SET', KEYS[i], ARGV[i + 1], 'NX', 'PX', ttl)
  else
    done = redis.call('SET', KEYS[i], ARGV[i + 1], 'NX')
  end
  flags[i] = done and '1' or '0'
end
return table.concat(flags)
"""


def expired(expires_ms: int | None, now_ms: int) -> bool:
    """The one rule for "too late to write back": less than :data:`EXPIRY_GRACE_MS` left (never permanent)."""
    return expires_ms is not None and expires_ms - now_ms <= EXPIRY_GRACE_MS


class RestoreBatch(NamedTuple):
    rows: list[Sequence[Any]]  # the entries as given, for ``written``
    keys: list[bytes]
    values: list[bytes]
    remaining: list[int]  # ms left, 0 = permanent

    def script_arguments(self) -> list[Any]:
        """KEYS, then ARGV of :data:`_RESTORE_SCRIPT`."""
        return [*self.keys, " ".join(map(str, self.remaining)), *self.values]

    def set_commands(self) -> list[tuple[Any, ...]]:
        return [("SET", key, value, "NX", "PX", remaining) if remaining else ("SET", key, value, "NX")
                for key, value, remaining in zip(self.keys, self.values, self.remaining, strict=True)]


def restore(client: Redis, entries: Iterable[Sequence[Any]], stamp: int | None = None,
            written: list[Sequence[Any]] | None = None) -> tuple[int, int]:
    """Write back each live entry (an :class:`.journal.Entry`, or any row that starts ``key, value,
    expires_ms``); returns (restored, already there), and appends the entries it wrote to ``written``. The time
    left is counted from ``stamp``, or from the moment each batch is built."""
    if isinstance(client, RedisCluster):
        return restore_on_cluster(client, entries, stamp, written)
    sizes: list[int] = []
    batches = (batch for _, batch in _batches(entries, stamp, sizes))
    first = next(batches, None)
    if first is None:
        return 0, 0
    try:
        restored = _took(first, _flags(client.eval(_RESTORE_SCRIPT, len(first.keys), *first.script_arguments())), written)
    except ResponseError as error:
        if not scripting_refused(error):
            raise
        sets = ((batch, batch.set_commands()) for batch in chain([first], batches))
        restored = _streamed(client, sets, lambda replies: "".join("0" if done is None else "1" for done in replies), written)
    else:
        calls = ((batch, [("EVAL", _RESTORE_SCRIPT, len(batch.keys), *batch.script_arguments())]) for batch in batches)
        restored += _streamed(client, calls, lambda replies: _flags(replies[0]), written)
    return restored, sum(sizes) - restored


def _streamed(client: Redis, groups: Iterable[tuple[RestoreBatch, list[tuple[Any, ...]]]], flags: Callable[[list[Any]], str],
              written: list[Sequence[Any]] | None) -> int:
    """Each batch's commands streamed (:class:`..streaming.Stream`, the batch as its tag); how many were written, by
    ``flags`` of the batch's replies."""
    stream = Stream(client)
    took = 0
    try:
        for batch, group in groups:
            took += sum(_took(done, flags(replies), written) for done, replies in stream.send(group, batch))
        took += sum(_took(done, flags(replies), written) for done, replies in stream.finish())
    finally:
        stream.abort()  # a no-op once finished
    return took


def _flags(reply: Any) -> str:
    """A restore script's reply: one flag a ban."""
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _took(batch: RestoreBatch, flags: str, written: list[Sequence[Any]] | None) -> int:
    """How many of ``batch`` were written, from one flag a ban (``1`` written, ``0`` there already); those
    entries go to ``written``."""
    if written is not None:
        written.extend(row for row, flag in zip(batch.rows, flags, strict=True) if flag == "1")
    return flags.count("1")


# A cluster node's share: ARGV[1] = the remaining ms (as above), then the keys (undeclared), then the values. Returns
# one flag a ban: 1 written, 0 already there, r refused by the node (its slot is no longer the node's).
_NODE_RESTORE_SCRIPT = """
local ttls = {}
for ttl in string.gmatch(ARGV[1], '%d+') do ttls[#ttls + 1] = ttl end
local n, flags = #ttls, {}
for i = 1, n do
  local done
  if ttls[i] ~= '0' then
    done = redis.pcall('SET', ARGV[i + 1], ARGV[n + i + 1], 'NX', 'PX', ttls[i])
  else
    done = redis.pcall('SET', ARGV[i + 1], ARGV[n + i + 1], 'NX')
  end
  if type(done) == 'table' and done.err then
    if not string.find(done.err, 'non local key', 1, true) then return redis.error_reply(done.err) end
    flags[i] = 'r'
  else
    flags[i] = done and '1' or '0'
  end
end
return table.concat(flags)
"""


def restore_on_cluster(client: RedisCluster, entries: Iterable[Sequence[Any]], stamp: int | None = None,
                       written: list[Sequence[Any]] | None = None) -> tuple[int, int]:
    """:func:`restore` on a Redis Cluster: batches filled per master (:func:`_batches`, routed by the slot map read once),
    each master's calls streamed on its own connection (:class:`..streaming.Stream`)."""
    names, owners = slot_masters(client)
    streams: dict[int, Stream | None] = {}  # None: this user may not run scripts (SET by SET through the cluster client)
    sizes: list[int] = []

    def unmapped(key: bytes) -> int:
        """A slot the map read did not cover: the client's own lookup, in its map as it is now (SlotNotCoveredError
        when it still lacks the slot, as for any command on that key)."""
        name = client.get_node_from_key(key).name
        if name not in names:
            names.append(name)
        index = owners[slot_of(key)] = names.index(name)
        return index

    def settled(batch: RestoreBatch, flags: str) -> int:
        """The node's flags; a key it refused (its slot is no longer the node's) is written where the cluster says now."""
        if "r" in flags:
            commands = batch.set_commands()
            flags = "".join(("1" if client.execute_command(*commands[i]) else "0") if flag == "r" else flag
                            for i, flag in enumerate(flags))
        return _took(batch, flags, written)

    def answered(done: list[tuple[Any, list[Any]]]) -> int:
        """The batches a stream read the replies of (one script call each)."""
        return sum(settled(batch, _flags(replies[0])) for batch, replies in done)

    def send(master: int, batch: RestoreBatch) -> int:
        call = ("EVAL", _NODE_RESTORE_SCRIPT, 0, " ".join(map(str, batch.remaining)), *batch.keys, *batch.values)
        if master in streams:
            stream = streams[master]
            return settled(batch, "r" * len(batch.keys)) if stream is None else answered(stream.send([call], batch))
        node = client.get_redis_connection(client.get_node(node_name=names[master]))
        try:  # the first call on a master is answered at once: a user without +@scripting finds out here
            restored = settled(batch, _flags(node.execute_command(*call)))
        except ResponseError as error:
            if not scripting_refused(error):
                raise
            streams[master] = None
            return settled(batch, "r" * len(batch.keys))
        streams[master] = Stream(node)
        return restored

    restored = 0
    try:
        for master, batch in _batches(entries, stamp, sizes, SlotRoute(owners, unmapped)):
            restored += send(master, batch)
        for stream in streams.values():
            restored += answered(stream.finish()) if stream is not None else 0
    finally:
        for stream in streams.values():
            if stream is not None:
                stream.abort()  # a no-op once finished
    return restored, sum(sizes) - restored


class SlotRoute(NamedTuple):
    """Where a Redis Cluster's bans go: per hash slot, the index of the master serving it (-1: none in the slot map read),
    and the index for a key of such a slot."""

    owners: list[int]
    unmapped: Callable[[bytes], int]


def _batches(entries: Iterable[Sequence[Any]], stamp: int | None, sizes: list[int],
             route: SlotRoute | None = None) -> Iterator[tuple[int, RestoreBatch]]:
    """The live entries in batches bounded in count and bytes, each with where it goes: the master serving the key's
    slot (``route``; the batches fill per master), or 0. Each batch's length goes to ``sizes``."""
    batches, held = [RestoreBatch([], [], [], [])], [0]  # per destination: the batch being filled, its value bytes
    now = now_ms() if stamp is None else stamp
    for entry in entries:
        expires_ms = entry[2]
        if expired(expires_ms, now):  # again here: time passed since the caller looked, and PX must stay > 0
            continue
        key, value = entry[0], entry[1]
        to = 0
        if route is not None:
            to = route.owners[slot_of(key)]
            if to < 0:
                to = route.unmapped(key)
            while to >= len(batches):
                batches.append(RestoreBatch([], [], [], []))
                held.append(0)
        batch = batches[to]
        batch.rows.append(entry)
        batch.keys.append(key)
        batch.values.append(value)
        batch.remaining.append(0 if expires_ms is None else expires_ms - now)
        held[to] += len(value)
        if len(batch.keys) >= CHUNK or held[to] >= RESTORE_BYTES:
            batches[to], held[to] = RestoreBatch([], [], [], []), 0
            sizes.append(len(batch.keys))
            yield to, batch
            now = now_ms() if stamp is None else stamp
    for to, batch in enumerate(batches):
        if batch.keys:
            sizes.append(len(batch.keys))
            yield to, batch
